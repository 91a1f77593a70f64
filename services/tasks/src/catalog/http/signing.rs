//! Standard Webhooks signatures: `webhook-signature: v1,<base64 HMAC-SHA256 over
//! "<id>.<timestamp>.<body>">` with the secret from `http.signing_secret_file`.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;

const SECRET_PREFIX: &str = "whsec_";

/// Signs requests with one secret.
pub struct Signer {
    key: hmac::Key,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(***)")
    }
}

impl Signer {
    /// Reads `whsec_<base64>` from `path` (surrounding whitespace ignored). The
    /// error never contains the secret.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!("http.signing_secret_file: cannot read {}: {e}", path.display())
        })?;
        Self::from_secret(text.trim()).map_err(|reason| {
            format!("http.signing_secret_file: {} {reason}", path.display())
        })
    }

    fn from_secret(secret: &str) -> Result<Self, String> {
        let encoded = secret
            .strip_prefix(SECRET_PREFIX)
            .ok_or("must hold `whsec_` followed by the base64 secret")?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| "holds a secret that is not base64 after `whsec_`")?;
        if bytes.len() < 16 {
            return Err("holds a secret shorter than 16 bytes".into());
        }
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &bytes),
        })
    }

    /// The `webhook-signature` value for one request.
    pub fn sign(&self, id: &str, timestamp: u64, body: &[u8]) -> String {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(id.as_bytes());
        context.update(b".");
        context.update(timestamp.to_string().as_bytes());
        context.update(b".");
        context.update(body);
        format!("v1,{}", STANDARD.encode(context.sign().as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_the_standard_webhooks_reference_does() {
        // The example in the Standard Webhooks specification's test vectors.
        let signer = Signer::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            signer.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_bad_secret_is_refused_without_showing_it() {
        for secret in ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not*base64", "whsec_c2hvcnQ="] {
            let error = Signer::from_secret(secret).unwrap_err();
            assert!(!error.contains(secret), "{error}");
        }
    }
}
