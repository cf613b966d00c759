//! The server under test: a real `evident serve` child process on a fresh
//! data directory, so that its memory is measured apart from the clients'.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};

pub struct ServerProcess {
    child: Child,
    pub url: String,
    pub key: String,
    peak_anonymous: Arc<AtomicU64>,
    /// The peak anonymous RSS since the last [`ServerProcess::end_phase`], in KiB.
    phase_peak_anonymous: Arc<AtomicU64>,
    /// The peak RSS since [`ServerProcess::start_window`], in KiB.
    window_peak: Arc<AtomicU64>,
    sampling: Arc<AtomicBool>,
    /// The data directory, and the block device statistics of the disk that holds it.
    disk: Option<(PathBuf, PathBuf)>,
}

impl ServerProcess {
    /// Starts `evident serve` on a free loopback port and waits until it listens.
    pub fn start(data_dir: &Path, store: &crate::store::Location) -> anyhow::Result<ServerProcess> {
        let key = evident_server::auth::mint_key();
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir);
        if let crate::store::Location::Postgres(url) = store {
            command.args(["--store", url]);
        }
        let mut child = command
            .env("EVIDENT_ADMIN_KEY", &key)
            .env("EVIDENT_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting evident serve")?;
        let stdout = child.stdout.take().context("the server's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            let Some(line) = lines.next() else {
                let status = child.wait()?;
                bail!("evident serve exited before listening: {status}");
            };
            if let Some(address) = line?.strip_prefix("listening on ") {
                break address.trim().to_owned();
            }
        };
        // Keep draining its output so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        // The kernel keeps the peak RSS (VmHWM) but not the peak of its anonymous part: sample that.
        let peak_anonymous = Arc::new(AtomicU64::new(0));
        let phase_peak_anonymous = Arc::new(AtomicU64::new(0));
        let window_peak = Arc::new(AtomicU64::new(0));
        let sampling = Arc::new(AtomicBool::new(true));
        let pid = child.id();
        {
            let (peak_anonymous, phase_peak_anonymous, window_peak, sampling) = (
                peak_anonymous.clone(),
                phase_peak_anonymous.clone(),
                window_peak.clone(),
                sampling.clone(),
            );
            std::thread::spawn(move || {
                while sampling.load(Ordering::Relaxed) {
                    if let Some(anonymous) = status_kib(pid, "RssAnon:") {
                        peak_anonymous.fetch_max(anonymous, Ordering::Relaxed);
                        phase_peak_anonymous.fetch_max(anonymous, Ordering::Relaxed);
                    }
                    if let Some(resident) = status_kib(pid, "VmRSS:") {
                        window_peak.fetch_max(resident, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            });
        }
        Ok(ServerProcess {
            child,
            url,
            key,
            peak_anonymous,
            phase_peak_anonymous,
            window_peak,
            sampling,
            disk: disk_stat_of(data_dir).map(|stat| (data_dir.to_owned(), stat)),
        })
    }

    /// The server's verifier key (`GET /v1/log/key`).
    pub fn verifier_key(&self) -> anyhow::Result<String> {
        let key = reqwest::blocking::get(format!("{}/v1/log/key", self.url))?
            .error_for_status()?
            .text()?;
        Ok(key.trim().to_owned())
    }

    /// The CPU time the server's process has used so far, and the bytes
    /// written to its data directory's disk (Linux's `/proc` and `/sys`;
    /// None elsewhere). What the server has dirtied is written out first
    /// (`sync -f`), so that its writes count where it made them, not where
    /// the kernel flushed them.
    pub fn usage(&self) -> Option<Usage> {
        let written_bytes = self.disk.as_ref().and_then(|(dir, stat)| {
            let synced = Command::new("sync").arg("-f").arg(dir).status().ok()?;
            synced.success().then(|| disk_written_bytes(stat)).flatten()
        });
        Some(Usage {
            cpu_s: cpu_seconds(self.child.id())?,
            written_bytes,
        })
    }

    /// The highest resident set size the server has had, in bytes.
    pub fn peak_rss_bytes(&self) -> u64 {
        status_kib(self.child.id(), "VmHWM:").unwrap_or_default() * 1024
    }

    /// The highest anonymous (heap) part of its resident set seen, in bytes: RSS without
    /// the pages of the database file that SQLite maps, which the kernel can drop at will.
    pub fn peak_anonymous_bytes(&self) -> u64 {
        self.peak_anonymous.load(Ordering::Relaxed) * 1024
    }

    /// Ends a phase of the run: the peak anonymous RSS during it.
    pub fn end_phase(&self, phase: &str) -> PhaseMemory {
        let now = status_kib(self.child.id(), "RssAnon:").unwrap_or_default();
        let peak = self
            .phase_peak_anonymous
            .swap(now, Ordering::Relaxed)
            .max(now);
        PhaseMemory {
            phase: phase.to_owned(),
            peak_anonymous_bytes: peak * 1024,
        }
    }

    /// Starts a new window for [`ServerProcess::window_peak_bytes`]; returns the RSS now, in bytes.
    pub fn start_window(&self) -> u64 {
        let now = status_kib(self.child.id(), "VmRSS:").unwrap_or_default();
        self.window_peak.store(now, Ordering::Relaxed);
        now * 1024
    }

    /// The highest RSS seen since the window started, in bytes.
    pub fn window_peak_bytes(&self) -> u64 {
        self.window_peak.load(Ordering::Relaxed) * 1024
    }

    /// Stops the server with SIGTERM (a clean shutdown: the WAL is checkpointed) and waits.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.sampling.store(false, Ordering::Relaxed);
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if !status.success() {
            bail!("could not signal the server");
        }
        let exit = self.child.wait()?;
        if !exit.success() {
            bail!("the server exited with {exit}");
        }
        Ok(())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.sampling.store(false, Ordering::Relaxed);
        // Stopped already, or a failed run: make sure no server outlives the harness.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server's memory over one phase of a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PhaseMemory {
    pub phase: String,
    /// The highest anonymous RSS seen during the phase.
    pub peak_anonymous_bytes: u64,
}

/// What the server has used so far: its process's CPU time (user and
/// system, every thread's, those ended too), and the bytes written to the
/// disk that holds its data directory (by every process: on a machine
/// otherwise idle, the server's). The disk's own count, not the process's
/// `write_bytes`, which counts the pages it dirtied: with the large folios
/// of recent kernels, a 12 KB record written and synced into a file's
/// zero-filled room counted 2,055 KiB there and 16 KiB on the disk.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub cpu_s: f64,
    /// None where the data directory is on no block device (tmpfs).
    pub written_bytes: Option<u64>,
}

/// Clock ticks per second of `/proc/<pid>/stat`'s times (`USER_HZ`, fixed
/// at 100 in Linux's ABI).
const USER_HZ: f64 = 100.0;

fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields 14 and 15 (utime, stime), counted past the command name, which may hold spaces.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / USER_HZ)
}

/// The seventh field of a block device's statistics: sectors written, of
/// 512 bytes whatever the device's own.
fn disk_written_bytes(stat: &Path) -> Option<u64> {
    let disk = std::fs::read_to_string(stat).ok()?;
    let sectors: u64 = disk.split_whitespace().nth(6)?.parse().ok()?;
    Some(sectors * 512)
}

/// `/sys/dev/block/MAJOR:MINOR/stat` of the block device that holds `dir`
/// (None for a file system without one, such as tmpfs).
fn disk_stat_of(dir: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt as _;
    let device = std::fs::metadata(dir).ok()?.dev();
    let (major, minor) = (rustix::fs::major(device), rustix::fs::minor(device));
    let stat = PathBuf::from(format!("/sys/dev/block/{major}:{minor}/stat"));
    stat.exists().then_some(stat)
}

/// A `VmHWM:`/`VmRSS:` figure of /proc/PID/status, in KiB.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Bytes of every file in a directory tree.
pub fn directory_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let metadata = entry.metadata()?;
        total += if metadata.is_dir() {
            directory_bytes(&entry.path())?
        } else {
            metadata.len()
        };
    }
    Ok(total)
}
