//! Signed notes (C2SP signed-note) with Ed25519 keys: verifier and signer
//! keys, signing, and opening a note against a set of known keys.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// The signature type byte of Ed25519 keys.
const ED25519: u8 = 0x01;
/// Most signature lines a note may carry (as Go's implementation caps them).
const MAX_SIGNATURES: usize = 100;
/// The start of every signature line: an em dash and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed key: {0}")]
    MalformedKey(String),
    #[error("malformed note: {0}")]
    Malformed(String),
    #[error("no signature from a known key")]
    Unverified,
    #[error("the signature of {0} does not verify")]
    InvalidSignature(String),
    #[error("the key {0} is listed more than once")]
    AmbiguousKey(String),
}

/// Whether `name` may name a key: non-empty UTF-8 without `+`, white space or control characters.
fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.chars().any(|character| {
            character == '+' || character.is_whitespace() || character.is_control()
        })
}

/// SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4].
pub fn key_id(name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([b'\n', ED25519]);
    hasher.update(public_key);
    let digest = hasher.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Splits `name+hexid+base64` and checks the name and the id's form.
fn split_key(text: &str) -> Result<(&str, [u8; 4], Vec<u8>), NoteError> {
    let bad = |why: &str| NoteError::MalformedKey(why.to_owned());
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(id), Some(encoded)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("expected name+keyid+key"));
    };
    if !is_valid_name(name) {
        return Err(bad("invalid key name"));
    }
    if id.len() != 8
        || !id
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
    {
        return Err(bad("the key id must be 8 lowercase hex digits"));
    }
    let mut key_id = [0u8; 4];
    for (index, byte) in key_id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&id[index * 2..index * 2 + 2], 16).map_err(|_| bad("key id"))?;
    }
    let decoded = BASE64
        .decode(encoded)
        .map_err(|_| bad("the key is not standard base64"))?;
    Ok((name, key_id, decoded))
}

/// A key that verifies notes: `<name>+<hex key id>+<base64(0x01 ‖ public key)>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    pub name: String,
    pub id: [u8; 4],
    key: VerifyingKey,
}

impl Verifier {
    pub fn parse(text: &str) -> Result<Verifier, NoteError> {
        let (name, id, decoded) = split_key(text)?;
        let bad = |why: &str| NoteError::MalformedKey(why.to_owned());
        let [ED25519, key @ ..] = decoded.as_slice() else {
            return Err(bad("not an Ed25519 key (type 0x01)"));
        };
        let public: [u8; 32] = key
            .try_into()
            .map_err(|_| bad("an Ed25519 public key is 32 bytes"))?;
        if key_id(name, &public) != id {
            return Err(bad("the key id does not match the key"));
        }
        let key =
            VerifyingKey::from_bytes(&public).map_err(|_| bad("not a valid Ed25519 public key"))?;
        Ok(Verifier {
            name: name.to_owned(),
            id,
            key,
        })
    }

    /// The key in its text form.
    pub fn encode(&self) -> String {
        let mut bytes = vec![ED25519];
        bytes.extend_from_slice(self.key.as_bytes());
        format!("{}+{}+{}", self.name, hex(&self.id), BASE64.encode(bytes))
    }

    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        ed25519_dalek::Signature::from_slice(signature)
            .is_ok_and(|signature| self.key.verify_strict(text, &signature).is_ok())
    }
}

/// A key that signs notes; its text form is `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ‖ seed)>`.
pub struct Signer {
    pub name: String,
    pub id: [u8; 4],
    key: SigningKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        write!(formatter, "Signer({}+{})", self.name, hex(&self.id))
    }
}

impl Signer {
    /// A signer from a 32-byte Ed25519 seed (the caller draws it at random).
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Signer, NoteError> {
        if !is_valid_name(name) {
            return Err(NoteError::MalformedKey("invalid key name".to_owned()));
        }
        let key = SigningKey::from_bytes(&seed);
        let id = key_id(name, key.verifying_key().as_bytes());
        Ok(Signer {
            name: name.to_owned(),
            id,
            key,
        })
    }

    pub fn parse(text: &str) -> Result<Signer, NoteError> {
        let rest = text.strip_prefix("PRIVATE+KEY+").ok_or_else(|| {
            NoteError::MalformedKey("a signer key starts with PRIVATE+KEY+".to_owned())
        })?;
        let (name, id, decoded) = split_key(rest)?;
        let [ED25519, seed @ ..] = decoded.as_slice() else {
            return Err(NoteError::MalformedKey(
                "not an Ed25519 key (type 0x01)".to_owned(),
            ));
        };
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| NoteError::MalformedKey("an Ed25519 seed is 32 bytes".to_owned()))?;
        let signer = Signer::from_seed(name, seed)?;
        if signer.id != id {
            return Err(NoteError::MalformedKey(
                "the key id does not match the key".to_owned(),
            ));
        }
        Ok(signer)
    }

    /// The private key in its text form (for the key file).
    pub fn encode(&self) -> String {
        let mut bytes = vec![ED25519];
        bytes.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            hex(&self.id),
            BASE64.encode(bytes)
        )
    }

    pub fn verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            id: self.id,
            key: self.key.verifying_key(),
        }
    }

    /// Signs `text` (which must end in a newline) into a note.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        check_text(text.as_bytes())?;
        let signature = self.key.sign(text.as_bytes());
        let mut blob = self.id.to_vec();
        blob.extend_from_slice(&signature.to_bytes());
        Ok(format!(
            "{text}\n{SIGNATURE_PREFIX}{} {}\n",
            self.name,
            BASE64.encode(blob)
        ))
    }
}

fn check_text(text: &[u8]) -> Result<(), NoteError> {
    let text =
        std::str::from_utf8(text).map_err(|_| NoteError::Malformed("not UTF-8".to_owned()))?;
    if text.is_empty() || !text.ends_with('\n') {
        return Err(NoteError::Malformed(
            "the text must end in a newline".to_owned(),
        ));
    }
    if text
        .chars()
        .any(|character| character < ' ' && character != '\n')
    {
        return Err(NoteError::Malformed(
            "control character in the note".to_owned(),
        ));
    }
    Ok(())
}

/// A note whose signatures have been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedNote {
    pub text: String,
    /// Names of the known keys whose signatures verified.
    pub verified: Vec<String>,
    /// Signature lines from keys not in the list, as (name, key id).
    pub unverified: Vec<(String, [u8; 4])>,
}

/// Opens a signed note with the known `verifiers`: at least one signature from
/// a known key must verify and none may fail.
pub fn open(note: &[u8], verifiers: &[Verifier]) -> Result<OpenedNote, NoteError> {
    let malformed = |why: &str| NoteError::Malformed(why.to_owned());
    let whole = std::str::from_utf8(note).map_err(|_| malformed("not UTF-8"))?;
    if whole
        .chars()
        .any(|character| character < ' ' && character != '\n')
    {
        return Err(malformed("control character in the note"));
    }
    let split = whole
        .rfind("\n\n")
        .ok_or_else(|| malformed("no blank line before the signatures"))?;
    let (text, signatures) = (&whole[..split + 1], &whole[split + 2..]);
    if signatures.is_empty() || !signatures.ends_with('\n') {
        return Err(malformed("signature lines must end in a newline"));
    }
    let lines: Vec<&str> = signatures[..signatures.len() - 1].split('\n').collect();
    if lines.len() > MAX_SIGNATURES {
        return Err(malformed("too many signatures"));
    }
    let mut opened = OpenedNote {
        text: text.to_owned(),
        verified: Vec::new(),
        unverified: Vec::new(),
    };
    let mut seen_lines = std::collections::HashSet::new();
    for line in lines {
        let body = line
            .strip_prefix(SIGNATURE_PREFIX)
            .ok_or_else(|| malformed("a line after the blank line is not a signature"))?;
        let (name, encoded) = body
            .split_once(' ')
            .ok_or_else(|| malformed("a signature line needs a name and a signature"))?;
        if !is_valid_name(name) || encoded.is_empty() {
            return Err(malformed("invalid signature line"));
        }
        let blob = BASE64
            .decode(encoded)
            .map_err(|_| malformed("a signature is not standard base64"))?;
        if blob.len() < 5 {
            return Err(malformed("a signature is too short"));
        }
        if !seen_lines.insert(line) {
            continue;
        }
        let id: [u8; 4] = [blob[0], blob[1], blob[2], blob[3]];
        let matching: Vec<&Verifier> = verifiers
            .iter()
            .filter(|verifier| verifier.name == name && verifier.id == id)
            .collect();
        match matching.as_slice() {
            [] => opened.unverified.push((name.to_owned(), id)),
            [verifier] => {
                if !verifier.verify(text.as_bytes(), &blob[4..]) {
                    return Err(NoteError::InvalidSignature(name.to_owned()));
                }
                if !opened.verified.iter().any(|known| known == name) {
                    opened.verified.push(name.to_owned());
                }
            }
            _ => return Err(NoteError::AmbiguousKey(format!("{name}+{}", hex(&id)))),
        }
    }
    if opened.verified.is_empty() {
        return Err(NoteError::Unverified);
    }
    Ok(opened)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn vectors() -> Value {
        crate::log::tlog_vectors("notes.json")
    }

    fn from_hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&text[at..at + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn keys_and_key_ids() {
        let vectors = vectors();
        for key in vectors["keys"].as_array().unwrap() {
            let verifier = Verifier::parse(key["verifier_key"].as_str().unwrap()).unwrap();
            assert_eq!(hex(&verifier.id), key["key_id_hex"].as_str().unwrap());
            assert_eq!(verifier.encode(), key["verifier_key"].as_str().unwrap());
            if let Some(signer) = key["signer_key"].as_str() {
                let signer = Signer::parse(signer).unwrap();
                assert_eq!(signer.verifier(), verifier);
                assert_eq!(signer.encode(), key["signer_key"].as_str().unwrap());
            }
        }
        for vector in vectors["key_id_vectors"].as_array().unwrap() {
            let public: [u8; 32] = from_hex(vector["public_key_hex"].as_str().unwrap())
                .try_into()
                .unwrap();
            assert_eq!(
                hex(&key_id(vector["name"].as_str().unwrap(), &public)),
                vector["key_id_hex"].as_str().unwrap()
            );
        }
        for bad in vectors["bad_verifier_keys"]
            .as_array()
            .unwrap()
            .iter()
            .chain(vectors["other_algorithm_verifier_keys"].as_array().unwrap())
        {
            let key = bad
                .get("key")
                .or_else(|| bad.get("verifier_key"))
                .and_then(Value::as_str)
                .unwrap();
            assert!(Verifier::parse(key).is_err(), "{key}: {}", bad["why"]);
        }
        for bad in vectors["bad_signer_keys"].as_array().unwrap() {
            assert!(
                Signer::parse(bad["key"].as_str().unwrap()).is_err(),
                "{}",
                bad["why"]
            );
        }
    }

    #[test]
    fn note_vectors() {
        let vectors = vectors();
        for case in vectors["notes"].as_array().unwrap() {
            let about = case["about"].as_str().unwrap();
            let note = match case.get("note_hex") {
                Some(encoded) => from_hex(encoded.as_str().unwrap()),
                None => case["note"].as_str().unwrap().as_bytes().to_vec(),
            };
            let verifiers: Vec<Verifier> = case["verify_with"]
                .as_array()
                .unwrap()
                .iter()
                .map(|key| Verifier::parse(key.as_str().unwrap()).unwrap())
                .collect();
            let result = open(&note, &verifiers);
            let verdict = match &result {
                Ok(_) => "ok",
                Err(NoteError::Unverified) => "unverified",
                Err(NoteError::InvalidSignature(_)) => "invalid signature",
                Err(NoteError::Malformed(_)) => "malformed",
                Err(NoteError::AmbiguousKey(_)) => "ambiguous key",
                Err(NoteError::MalformedKey(_)) => "malformed key",
            };
            assert_eq!(
                verdict,
                case["result"].as_str().unwrap(),
                "{about}: {result:?}"
            );
            if let (Ok(opened), Some(text)) = (&result, case.get("text")) {
                assert_eq!(opened.text, text.as_str().unwrap(), "{about}");
                let mut verified = opened.verified.clone();
                verified.sort();
                let mut want: Vec<String> = case["verified_signers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|name| name.as_str().unwrap().to_owned())
                    .collect();
                want.sort();
                want.dedup();
                assert_eq!(verified, want, "{about}");
            }
        }
    }

    #[test]
    fn signing_is_deterministic_and_matches_the_reference() {
        let vectors = vectors();
        let case = &vectors["notes"][0];
        let key = vectors["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|key| key["name"] == "PeterNeumann")
            .unwrap();
        let signer = Signer::parse(key["signer_key"].as_str().unwrap()).unwrap();
        assert_eq!(
            signer.sign(case["text"].as_str().unwrap()).unwrap(),
            case["note"].as_str().unwrap()
        );
        assert!(signer.sign("no newline").is_err());
        let ours = Signer::from_seed("evident.example/acme", [7; 32]).unwrap();
        let note = ours.sign("hello\n").unwrap();
        assert_eq!(
            open(note.as_bytes(), &[ours.verifier()]).unwrap().text,
            "hello\n"
        );
        assert!(
            format!("{ours:?}").starts_with("Signer(evident.example/acme+"),
            "Debug never shows the key"
        );
    }
}
