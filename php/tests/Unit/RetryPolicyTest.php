<?php

declare(strict_types=1);

namespace Edgepush\Tests\Unit;

use Edgepush\Exception\ConfigurationException;
use Edgepush\RetryPolicy;
use PHPUnit\Framework\TestCase;

final class RetryPolicyTest extends TestCase
{
    public function testBacksOffExponentiallyWithJitterUpToTheCap(): void
    {
        $policy = new RetryPolicy(10, 100, 1000);
        foreach ([1 => 100, 2 => 200, 3 => 400, 4 => 800, 5 => 1000, 9 => 1000, 100 => 1000] as $attempt => $ceiling) {
            for ($i = 0; $i < 50; ++$i) {
                $delay = $policy->delayMs($attempt);
                self::assertGreaterThanOrEqual(intdiv($ceiling, 2), $delay, "attempt $attempt");
                self::assertLessThanOrEqual($ceiling, $delay, "attempt $attempt");
            }
        }
    }

    public function testTheDefaultWaitsUnderOneAndAHalfSecondsInTotal(): void
    {
        $policy = new RetryPolicy();
        $worst = 0;
        for ($attempt = 1; $attempt < $policy->maxAttempts; ++$attempt) {
            $worst += min($policy->maxDelayMs, $policy->baseDelayMs * 2 ** ($attempt - 1));
        }

        self::assertLessThan(1500, $worst);
    }

    /** @return iterable<string, array{int, int, int}> */
    public static function badPolicies(): iterable
    {
        yield 'no attempt' => [0, 100, 1000];
        yield 'negative delay' => [3, -1, 1000];
        yield 'cap below the base' => [3, 500, 100];
    }

    /** @dataProvider badPolicies */
    public function testRefusesNonsense(int $attempts, int $base, int $max): void
    {
        $this->expectException(ConfigurationException::class);

        new RetryPolicy($attempts, $base, $max);
    }
}
