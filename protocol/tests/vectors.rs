//! The Rust implementation reproduces the shared test vectors in `protocol/test-vectors.json`.

use edgepush_protocol::signature::{PublishKeys, SigningKey};
use edgepush_protocol::token::{Claims, TokenKey};
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    signatures: Vec<SignatureVector>,
    signature_checks: SignatureChecks,
    tokens: Vec<TokenVector>,
    token_checks: Vec<TokenCheck>,
}

#[derive(Deserialize)]
struct SignatureVector {
    description: String,
    key_id: String,
    secret: String,
    timestamp: i64,
    method: String,
    path: String,
    body: String,
    header: String,
}

#[derive(Deserialize)]
struct SignatureChecks {
    keys: String,
    cases: Vec<SignatureCheck>,
}

#[derive(Deserialize)]
struct SignatureCheck {
    description: String,
    header: Option<String>,
    method: String,
    path: String,
    body: String,
    now: i64,
    error: Option<String>,
}

#[derive(Deserialize)]
struct TokenVector {
    description: String,
    secret: String,
    claims: Claims,
    token: String,
}

#[derive(Deserialize)]
struct TokenCheck {
    description: String,
    secret: String,
    audience: Option<String>,
    issuer: Option<String>,
    token: String,
    now: i64,
    error: Option<String>,
    sub: Option<String>,
}

fn vectors() -> Vectors {
    let text = include_str!("../test-vectors.json");
    serde_json::from_str(text).expect("test-vectors.json parses")
}

#[test]
fn signing_reproduces_every_signature_vector() {
    for v in vectors().signatures {
        let key = SigningKey::new(&v.key_id, v.secret.as_bytes()).unwrap();
        let header = key.sign(v.timestamp, &v.method, &v.path, v.body.as_bytes());
        assert_eq!(header, v.header, "{}", v.description);
    }
}

#[test]
fn verification_gives_the_expected_outcome_for_every_check() {
    let checks = vectors().signature_checks;
    let keys = PublishKeys::parse(&checks.keys).unwrap();
    for case in checks.cases {
        let outcome = keys.verify(
            case.header.as_deref(),
            &case.method,
            &case.path,
            case.body.as_bytes(),
            case.now,
        );
        let error = outcome.err().map(|e| e.code().as_str().to_owned());
        assert_eq!(error, case.error, "{}", case.description);
    }
}

#[test]
fn minting_reproduces_every_token_vector() {
    for v in vectors().tokens {
        let key = TokenKey::new(v.secret.as_bytes()).unwrap();
        assert_eq!(key.mint(&v.claims), v.token, "{}", v.description);
    }
}

#[test]
fn token_verification_gives_the_expected_outcome_for_every_check() {
    for case in vectors().token_checks {
        let mut key = TokenKey::new(case.secret.as_bytes()).unwrap();
        if let Some(audience) = case.audience {
            key = key.with_audience(audience);
        }
        if let Some(issuer) = case.issuer {
            key = key.with_issuer(issuer);
        }
        match key.verify(&case.token, case.now) {
            Ok(claims) => {
                assert_eq!(case.error, None, "{}", case.description);
                assert_eq!(Some(claims.sub), case.sub, "{}", case.description);
            }
            Err(err) => assert_eq!(
                Some(err.code().as_str()),
                case.error.as_deref(),
                "{}: {err}",
                case.description
            ),
        }
    }
}
