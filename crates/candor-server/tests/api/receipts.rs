//! Receipts verify with an implementation other than the one that signed them: Node.js's
//! crypto (OpenSSL), given only the JWK served at the well-known address.

use serde_json::json;

use crate::helpers::{Backend, spawn_app};
use crate::on_both;

on_both!(receipt_verifies_with_node_crypto_and_the_published_jwk);

const VERIFY_JS: &str = r#"
const crypto = require('crypto');
const [jwk, jws] = [JSON.parse(process.argv[1]), process.argv[2]];
const [h, p, s] = jws.split('.');
const header = JSON.parse(Buffer.from(h, 'base64url'));
if (header.alg !== 'EdDSA' || header.kid !== jwk.kid) { console.log('bad header'); process.exit(2); }
const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
const ok = crypto.verify(null, Buffer.from(h + '.' + p), key, Buffer.from(s, 'base64url'));
console.log(ok ? Buffer.from(p, 'base64url').toString() : 'invalid');
process.exit(ok ? 0 : 1);
"#;

fn node_verify(jwk: &str, jws: &str) -> (bool, String) {
    let out = std::process::Command::new("node")
        .args(["-e", VERIFY_JS, jwk, jws])
        .output()
        .expect("node (Node.js 20) must be installed to verify receipts independently");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn receipt_verifies_with_node_crypto_and_the_published_jwk(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = app.consent("receipt-user", json!({"newsletter": true})).await;
    let jws = body["receipt_jws"].as_str().unwrap();
    let jwk = app.get("/.well-known/candor/receipt-key.jwk", None).await;
    assert_eq!(jwk.body["kty"], "OKP");
    assert_eq!(jwk.body["crv"], "Ed25519");
    assert!(jwk.body.get("d").is_none(), "the private part is never served");

    let (ok, payload) = node_verify(&jwk.text, jws);
    assert!(ok, "node rejected the receipt: {payload}");
    let payload: serde_json::Value = serde_json::from_str(payload.trim()).unwrap();
    assert_eq!(payload, body["receipt"], "the signed payload is the receipt returned");

    // A forged payload with the original signature fails.
    let parts: Vec<&str> = jws.split('.').collect();
    let forged_payload = payload.to_string().replace("\"granted\"", "\"denied\"");
    use base64::Engine;
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged_payload),
        parts[2]
    );
    let (ok, _) = node_verify(&jwk.text, &forged);
    assert!(!ok, "a forged receipt must not verify");
}
