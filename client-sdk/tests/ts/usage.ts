// Uses every member the SDK's hand-written TypeScript declarations (client-sdk/src/js.rs) declare,
// the way an app would, so `tsc -p client-sdk/tests/ts` fails when a declaration is malformed,
// missing or typed wrongly. Never run, only type-checked against client-sdk/pkg.
import init, {
  EdgepushClient,
  EdgepushSubscription,
  initSync,
  type BackgroundPayload,
  type ClientOptions,
  type ConnectionState,
  type EdgepushError,
  type EdgepushEvent,
  type InitInput,
  type InitOutput,
  type MessagePayload,
  type Position,
  type SubscribeOptions,
  type SubscriptionError,
  type SyncInitInput,
  type TokenProvider,
  type TokenProviderError,
  type TopicEvent,
  type Unsubscribe,
} from "../../pkg/edgepush_client.js";

export async function start(wasm: InitInput, bytes: SyncInitInput): Promise<void> {
  const output: InitOutput = await init({ module_or_path: wasm });
  const again: InitOutput = initSync({ module: bytes });
  void [output, again];
}

const provider: TokenProvider = () => fetch("/edgepush/token").then((r) => r.text());
const fixed: TokenProvider = () => "a.b.c";
const saved: Position = { epoch: "e-01", lastId: 17 };

const options: ClientOptions = {
  url: "https://push.example.com",
  token: provider,
  minDelayMs: 500,
  maxDelayMs: 20_000,
  stableAfterMs: 10_000,
  connectTimeoutMs: 15_000,
  pongTimeoutMs: 10_000,
  heartbeatMs: 25_000,
  resume: saved,
};
const minimal: ClientOptions = { url: "wss://push.example.com", token: "a.b.c" };

export function use(): void {
  const client = new EdgepushClient(options);
  using other = new EdgepushClient(minimal);
  void other;
  void fixed;

  client.on<{ id: number }>("Order", (event: EdgepushEvent<{ id: number }>) => {
    const id: number = event.payload.id;
    const name: string = event.name;
    const seq: number = event.id;
    const ts: number = event.ts;
    void [id, name, seq, ts];
  });
  client.on("Anything", (event) => {
    const payload: unknown = event.payload;
    void payload;
  });
  client.onMessage((event) => {
    const message: MessagePayload = event.payload;
    const text: string = message.text;
    // @ts-expect-error a Message has no color
    void event.payload.color;
    void text;
  });
  client.onBackground((event) => {
    const background: BackgroundPayload = event.payload;
    const color: string = background.color;
    void color;
  });
  client.onUnknown((event: EdgepushEvent<unknown>) => void event.name);
  client.onState((state) => describe(state));
  client.onError((error: EdgepushError) => {
    const code: EdgepushError["code"] = error.code;
    const message: string = error.message;
    const terminal: boolean = error.terminal;
    const event: string | undefined = error.event;
    const closeCode: number | undefined = error.closeCode;
    void [code, message, terminal, event, closeCode];
  });
  client.onResync(() => undefined);

  // Every on… returns the function that removes its handler.
  const removers: Unsubscribe[] = [
    client.on("Order", () => undefined),
    client.onMessage(() => undefined),
    client.onBackground(() => undefined),
    client.onUnknown(() => undefined),
    client.onState(() => undefined),
    client.onError(() => undefined),
    client.onResync(() => undefined),
  ];
  for (const off of removers) {
    const nothing: void = off();
    void nothing;
  }
  // @ts-expect-error the remover takes no argument
  client.on("Order", () => undefined)("Order");

  const sub: EdgepushSubscription = client.subscribe("product:42");
  const subscribeOptions: SubscribeOptions = { token: "sub.jwt" };
  using granted = client.subscribe("private:x", subscribeOptions);
  void client.subscribe("feed:all", {});
  sub.on<{ price: number }>("ProductChanged", (event: TopicEvent<{ price: number }>) => {
    const price: number = event.payload.price;
    const topic: string = event.topic;
    const seq: number = event.id;
    const name: string = event.name;
    const ts: number = event.ts;
    const asClientEvent: EdgepushEvent<{ price: number }> = event;
    void [price, topic, seq, name, ts, asClientEvent];
  });
  granted.on("Anything", (event) => {
    const payload: unknown = event.payload;
    void payload;
  });
  sub.onResync(() => undefined);
  sub.onOccupancy((count) => {
    const viewers: number = count;
    void viewers;
  });
  sub.onPresence((user, present) => {
    const who: string = user;
    const here: boolean = present;
    void [who, here];
  });
  // @ts-expect-error a viewer count is a number
  sub.onOccupancy((count: string) => void count);
  client.on("OrderShipped", (event) => {
    // Set for events of topics the backend subscribed the user to.
    const topic: string | undefined = event.topic;
    void topic;
  });
  sub.onError((error: SubscriptionError) => {
    const topic: string = error.topic;
    const code: SubscriptionError["code"] = error.code;
    const message: string = error.message;
    void [topic, code, message];
  });
  const subscriptionRemovers: Unsubscribe[] = [
    sub.on("ProductChanged", () => undefined),
    sub.onResync(() => undefined),
    sub.onError(() => undefined),
    sub.onOccupancy(() => undefined),
    sub.onPresence(() => undefined),
  ];
  subscriptionRemovers.forEach((off) => off());
  // Where the topic's stream is, saved to go on from there on the next page.
  const topicPosition: Position | undefined = sub.position;
  const resumed: EdgepushSubscription = client.subscribe("product:42", topicPosition ? { resume: topicPosition } : {});
  void client.subscribe("private:x", { token: "sub.jwt", resume: { epoch: "e", lastId: 3 } });
  // @ts-expect-error a subscription's position is read-only
  sub.position = undefined;
  // @ts-expect-error a position has an epoch and a last id
  client.subscribe("feed:all", { resume: { lastId: 3 } });
  resumed.unsubscribe();
  sub.unsubscribe();
  sub.free();
  sub[Symbol.dispose]();
  // @ts-expect-error a subscription token is a string
  client.subscribe("private:y", { token: 42 });
  // @ts-expect-error subscriptions come from client.subscribe()
  new EdgepushSubscription();

  const state: ConnectionState = client.state;
  const position: Position | undefined = client.position;
  if (position) {
    const epoch: string = position.epoch;
    const lastId: number = position.lastId;
    void [epoch, lastId];
  }
  describe(state);

  client.connect();
  client.close();
  client.free();
  client[Symbol.dispose]();

  // @ts-expect-error the url is required
  new EdgepushClient({ token: "a.b.c" });
  // @ts-expect-error state is read-only
  client.state = { state: "idle" };
}

function describe(state: ConnectionState): string {
  switch (state.state) {
    case "idle":
    case "open":
    case "offline":
      return state.state;
    case "connecting":
      return `attempt ${state.attempt}`;
    case "reconnecting":
      return `attempt ${state.attempt} in ${state.delayMs} ms`;
    case "closed":
      return `${state.code} ${state.reason}`;
    default: {
      const never: never = state;
      return never;
    }
  }
}

const everyErrorCode: Record<EdgepushError["code"], true> = {
  bad_payload: true,
  token_provider: true,
  missing_token: true,
  token_expired: true,
  rejected: true,
  server_error: true,
  handler_threw: true,
  socket: true,
  config: true,
};
void everyErrorCode;

// A provider that says asking again will not help (nobody is logged in): the client stops.
const stopsOn401: TokenProvider = async () => {
  const response = await fetch("/edgepush/token");
  if (!response.ok) {
    const error: TokenProviderError = Object.assign(new Error(`answered ${response.status}`), {
      terminal: response.status === 401 || response.status === 403,
    });
    throw error;
  }
  return ((await response.json()) as { token: string }).token;
};
void stopsOn401;

const everySubscriptionErrorCode: Record<SubscriptionError["code"], true> = {
  topic_forbidden: true,
  invalid_topic: true,
  unknown_namespace: true,
  too_many_subscriptions: true,
  internal_error: true,
};
void everySubscriptionErrorCode;
