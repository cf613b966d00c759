//! The checkpoint signing key: generated into the data directory on first
//! start (mode 0600), or read from the file `--signing-key` names.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use evident_core::log::note::Signer;

/// The key file's name inside the data directory.
pub const KEY_FILE: &str = "signing.key";

/// Reads the key at `path`, or the data directory's key, creating that one (named `origin`) if missing.
pub fn load_or_create(
    path: Option<&Path>,
    data_dir: &Path,
    origin: &str,
) -> anyhow::Result<Signer> {
    if let Some(path) = path {
        return read(path);
    }
    let path: PathBuf = data_dir.join(KEY_FILE);
    if path.exists() {
        return read(&path);
    }
    let signer = Signer::from_seed(origin, rand::random())
        .with_context(|| format!("the origin {origin:?} cannot name a key (no spaces or +)"))?;
    // With the store in PostgreSQL, the data directory holds only this key.
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(file, "{}", signer.encode())?;
    file.sync_all()?;
    tracing::info!(path = %path.display(), key = %signer.verifier().encode(), "created the checkpoint signing key");
    Ok(signer)
}

fn read(path: &Path) -> anyhow::Result<Signer> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the signing key {}", path.display()))?;
    match Signer::parse(text.trim()) {
        Ok(signer) => Ok(signer),
        Err(error) => bail!("{}: {error}", path.display()),
    }
}
