//! What the token worker is told (`TokenConfig`: which module, which token by label, where
//! its PIN is, which key), and the PIN itself: read from its file into a type that never
//! prints it, with a fingerprint so the worker can tell a changed PIN file from the one
//! the token refused. Does not talk to the module and decides nothing about retrying.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cryptoki::types::RawAuthPin;

use super::TokenError;

/// How often a token that is not ready is looked for, by default.
pub const DEFAULT_RESCAN_INTERVAL: Duration = Duration::from_secs(1);

/// How often a ready token is checked (one `C_GetTokenInfo`) by default: often enough that
/// the status page notices an unplugged token within seconds while nothing is signed, and
/// seldom enough not to load a slow USB token (hundreds of milliseconds per operation)
/// between signatures. A failed signature checks at once anyway.
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// Longest PIN file read. Token PINs are short; this only bounds what a wrong path (say,
/// a device file) can make the worker read.
const MAX_PIN_FILE_BYTES: u64 = 1024;

/// Which token to use and how. Built by the configuration code (or a test); it holds the
/// PIN file's path, never the PIN, so its `Debug` is safe to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenConfig {
    /// The PKCS#11 module: the token driver's shared library.
    pub module: PathBuf,
    /// The token's label, as `pkcs11-tool --list-slots` shows it. The token is found by
    /// this label in whichever slot holds it; slot numbers change with the USB port.
    pub token_label: String,
    /// A file holding the user PIN (one trailing newline is ignored), readable only by
    /// the service user, e.g. a systemd credential.
    pub pin_file: PathBuf,
    /// The CKA_LABEL of the private key to sign with; needed only when the token holds
    /// more than one private key.
    pub key_label: Option<String>,
    /// Whether the key's certificate is on the token (an object with the key's CKA_ID) and
    /// must be found before the token counts as ready: `true` (the default) for the
    /// agency seal, whose certificate docgate reads from the token; `false` for the link
    /// key, whose certificate is a file (`axis.certificate`) and which
    /// [`generate_link_key`](super::generate_link_key) makes without one. When `false`
    /// no certificate is looked for, and [`Token::certificate`](super::Token::certificate)
    /// answers `TokenError::CertificateNotOnToken`.
    pub certificate_on_token: bool,
    /// How often a token that is not ready (absent, PIN refused, …) is looked for.
    pub rescan_interval: Duration,
    /// How often a ready token is checked to be still there.
    pub check_interval: Duration,
    /// For benchmarks only: a delay added to every signature, to make SoftHSM behave like
    /// a real USB token (about 250 ms a signature). Deliberately not a configuration file
    /// setting; `None` everywhere else.
    pub sign_delay: Option<Duration>,
}

impl TokenConfig {
    /// A configuration with the defaults: no key label, the certificate on the token, a
    /// rescan every second, a ready token checked every five seconds, no delay.
    pub fn new(
        module: impl Into<PathBuf>,
        token_label: impl Into<String>,
        pin_file: impl Into<PathBuf>,
    ) -> TokenConfig {
        TokenConfig {
            module: module.into(),
            token_label: token_label.into(),
            pin_file: pin_file.into(),
            key_label: None,
            certificate_on_token: true,
            rescan_interval: DEFAULT_RESCAN_INTERVAL,
            check_interval: DEFAULT_CHECK_INTERVAL,
            sign_delay: None,
        }
    }
}

/// A user PIN as read from the PIN file. It has no `Display`, its `Debug` shows nothing,
/// and the worker holds it only while logging in.
pub(super) struct Pin(Vec<u8>);

impl fmt::Debug for Pin {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Pin(<hidden>)")
    }
}

/// A SHA-256 of a PIN, to notice that the PIN file changed without keeping the refused
/// PIN. Never printed either: a short PIN is easy to find from its hash.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct PinFingerprint([u8; 32]);

impl fmt::Debug for PinFingerprint {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("PinFingerprint(<hidden>)")
    }
}

impl Pin {
    /// Reads the PIN from `path`; errors name the token and the file, never the content.
    pub(super) fn read(path: &Path, token_label: &str) -> Result<Pin, TokenError> {
        let error = |reason: String| TokenError::PinFile {
            label: token_label.to_owned(),
            path: path.to_path_buf(),
            reason,
        };
        let file = std::fs::File::open(path).map_err(|source| error(source.to_string()))?;
        let mut content = Vec::new();
        file.take(MAX_PIN_FILE_BYTES + 1)
            .read_to_end(&mut content)
            .map_err(|source| error(source.to_string()))?;
        if content.len() as u64 > MAX_PIN_FILE_BYTES {
            return Err(error(format!(
                "the file is longer than {MAX_PIN_FILE_BYTES} bytes, so it is not a PIN file"
            )));
        }
        Pin::from_file_content(content).map_err(|reason| error(reason.to_owned()))
    }

    /// The PIN in a PIN file's bytes: one trailing newline (`\n` or `\r\n`) is not part of
    /// it; anything else is, so a PIN with spaces keeps them.
    pub(super) fn from_file_content(mut content: Vec<u8>) -> Result<Pin, &'static str> {
        if content.last() == Some(&b'\n') {
            content.pop();
            if content.last() == Some(&b'\r') {
                content.pop();
            }
        }
        if content.is_empty() {
            return Err("the file is empty");
        }
        Ok(Pin(content))
    }

    pub(super) fn fingerprint(&self) -> PinFingerprint {
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.0);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        PinFingerprint(bytes)
    }

    /// The PIN in the form `C_Login` takes (cryptoki keeps it in a `secrecy` box).
    pub(super) fn to_login(&self) -> RawAuthPin {
        RawAuthPin::new(Box::new(self.0.clone()))
    }

    #[cfg(test)]
    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_trailing_newline_is_trimmed_and_nothing_else() {
        let cases: [(&[u8], &[u8]); 6] = [
            (b"123456\n", b"123456"),
            (b"123456", b"123456"),
            (b"123456\r\n", b"123456"),
            (b"123456\n\n", b"123456\n"),
            (b" 12 34 \n", b" 12 34 "),
            (b"12\n34\n", b"12\n34"),
        ];
        for (content, expected) in cases {
            let pin = Pin::from_file_content(content.to_vec()).expect("a PIN");
            assert_eq!(pin.bytes(), expected, "{content:?}");
        }
    }

    #[test]
    fn an_empty_file_is_no_pin() {
        for content in [&b""[..], b"\n", b"\r\n"] {
            assert_eq!(
                Pin::from_file_content(content.to_vec()).map(|_| ()),
                Err("the file is empty")
            );
        }
    }

    #[test]
    fn reading_names_the_file_but_never_shows_the_pin() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pin");
        std::fs::write(&path, "7355608\n").expect("write");
        let pin = Pin::read(&path, "agency-seal").expect("read");
        assert_eq!(pin.bytes(), b"7355608");
        assert!(!format!("{pin:?}").contains("7355608"));
        assert!(!format!("{:?}", pin.fingerprint()).contains("7355608"));
        let same = Pin::from_file_content(b"7355608".to_vec()).expect("pin");
        let other = Pin::from_file_content(b"7355609".to_vec()).expect("pin");
        assert!(pin.fingerprint() == same.fingerprint());
        assert!(pin.fingerprint() != other.fingerprint());

        let missing = Pin::read(&dir.path().join("absent"), "agency-seal")
            .expect_err("no file")
            .to_string();
        assert!(missing.contains("agency-seal"), "{missing}");
        assert!(missing.contains("absent"), "{missing}");

        std::fs::write(&path, vec![b'1'; 2000]).expect("write");
        let long = Pin::read(&path, "agency-seal")
            .expect_err("too long")
            .to_string();
        assert!(long.contains("longer than 1024 bytes"), "{long}");
        assert!(!long.contains("1111"), "{long}");
    }

    #[test]
    fn the_config_debug_shows_the_pin_file_not_the_pin() {
        let config = TokenConfig::new("/usr/lib/softhsm/libsofthsm2.so", "seal", "/etc/pin");
        let text = format!("{config:?}");
        assert!(text.contains("/etc/pin"));
        assert_eq!(config.rescan_interval, Duration::from_secs(1));
        assert_eq!(config.sign_delay, None);
        assert!(config.certificate_on_token);
    }
}
