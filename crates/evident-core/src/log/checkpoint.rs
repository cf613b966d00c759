//! Checkpoints (C2SP tlog-checkpoint): the signed statement of a log's size
//! and root hash. The text is the body of a signed note.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::merkle::Hash;

/// A checkpoint body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Which log: for Evident `<deployment origin>/<tenant id>`.
    pub origin: String,
    pub tree_size: u64,
    pub root_hash: Hash,
    /// Further lines, each non-empty.
    pub extensions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed checkpoint: {0}")]
pub struct CheckpointError(pub String);

impl Checkpoint {
    /// The note text: origin, size and base64 root, each on its own line, then extensions.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.tree_size,
            BASE64.encode(self.root_hash)
        );
        for extension in &self.extensions {
            text.push_str(extension);
            text.push('\n');
        }
        text
    }

    /// Parses a checkpoint body strictly as C2SP says.
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        let bad = |why: &str| CheckpointError(why.to_owned());
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| bad("the text must end in a newline"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root, extensions @ ..] = lines.as_slice() else {
            return Err(bad("expected origin, tree size and root hash lines"));
        };
        if origin.is_empty() {
            return Err(bad("empty origin"));
        }
        let leading_zero = size.len() > 1 && size.starts_with('0');
        if size.is_empty() || leading_zero || !size.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(bad(
                "the tree size must be a decimal number without leading zeros",
            ));
        }
        let tree_size = size
            .parse::<u64>()
            .map_err(|_| bad("the tree size does not fit in 64 bits"))?;
        let root_hash: Hash = BASE64
            .decode(root)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| bad("the root hash must be the base64 of 32 bytes"))?;
        if extensions.iter().any(|line| line.is_empty()) {
            return Err(bad("empty extension line"));
        }
        Ok(Checkpoint {
            origin: (*origin).to_owned(),
            tree_size,
            root_hash,
            extensions: extensions.iter().map(|line| (*line).to_owned()).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn vectors() -> Value {
        crate::log::tlog_vectors("checkpoint.json")
    }

    #[test]
    fn valid_checkpoints_parse_and_print_back() {
        for case in vectors()["valid"].as_array().unwrap() {
            let body = case["body"].as_str().unwrap();
            let checkpoint = Checkpoint::parse(body)
                .unwrap_or_else(|error| panic!("{}: {error}", case["about"]));
            assert_eq!(checkpoint.origin, case["origin"].as_str().unwrap());
            assert_eq!(checkpoint.tree_size, case["tree_size"].as_u64().unwrap());
            assert_eq!(
                BASE64.encode(checkpoint.root_hash),
                case["root_b64"].as_str().unwrap()
            );
            let extensions: Vec<&str> = case["extensions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|line| line.as_str().unwrap())
                .collect();
            assert_eq!(checkpoint.extensions, extensions);
            assert_eq!(checkpoint.to_text(), body);
        }
    }

    #[test]
    fn invalid_checkpoints_are_refused() {
        for case in vectors()["invalid"].as_array().unwrap() {
            let parsed = Checkpoint::parse(case["body"].as_str().unwrap());
            match case.get("expected_origin").and_then(Value::as_str) {
                // Well-formed, but from another log: the caller compares origins.
                Some(expected) => assert_ne!(parsed.unwrap().origin, expected, "{}", case["why"]),
                None => assert!(parsed.is_err(), "{}", case["why"]),
            }
        }
        assert!(
            Checkpoint::parse("Log\n0123\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n").is_err(),
            "leading zero"
        );
    }
}
