//! Generated document trees (the `site`, `cold` and `scale` scenarios) and
//! the path lists wrk cycles through. Everything is drawn from a fixed seed,
//! so the same parameters give the same tree and the same lists. A tree is
//! built once into a directory named after its parameters under `--trees`
//! and reused while it is there (a million files take minutes to write).

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::process::check_interrupt;
use crate::Result;

/// splitmix64: small, fast and good enough to draw sizes and paths.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Sizes {
    /// Log-normal around `median` bytes with this sigma (of ln size).
    LogNormal {
        median: u64,
        sigma: f64,
    },
    Fixed(u64),
}

/// The parameters of a tree; its directory is named after them.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: &'static str,
    pub files: u64,
    pub dirs: u64,
    pub sizes: Sizes,
    pub seed: u64,
}

/// The site's size spread: sigma 1.2 puts the mean at about 2.05× the
/// median (so 20,000 files around 6 KiB make about 250 MB), with a tail of
/// files of several hundred KiB, as a site's images and bundles.
pub const SITE_SIGMA: f64 = 1.2;

/// Bump when the layout or the drawing changes, so old trees are not reused.
const VERSION: u32 = 1;

impl Sizes {
    pub fn describe(self) -> String {
        match self {
            Sizes::LogNormal { median, sigma } => format!(
                "sizes log-normal around a median of {:.1} KiB, sigma {sigma}",
                median as f64 / 1024.0
            ),
            Sizes::Fixed(b) => format!("every file {b} bytes"),
        }
    }
}

impl Spec {
    fn key(&self) -> String {
        let sizes = match self.sizes {
            Sizes::LogNormal { median, sigma } => format!("ln{median}-{sigma}"),
            Sizes::Fixed(b) => format!("b{b}"),
        };
        format!(
            "{}-v{VERSION}-f{}-d{}-{sizes}-s{}",
            self.name, self.files, self.dirs, self.seed
        )
    }

    /// Every file: (URL path, size), in file order.
    fn draw(&self) -> Vec<(String, u64)> {
        let mut rng = Rng::new(self.seed);
        // Extensions of a site's files, so MIME lookups happen as they would.
        const EXT: [&str; 8] = ["html", "css", "js", "json", "svg", "png", "jpg", "woff2"];
        (0..self.files)
            .map(|i| {
                let size = match self.sizes {
                    Sizes::LogNormal { median, sigma } => {
                        let s = median as f64 * (sigma * rng.normal()).exp();
                        (s as u64).clamp(64, 32 << 20)
                    }
                    Sizes::Fixed(b) => b,
                };
                let ext = match self.sizes {
                    Sizes::LogNormal { .. } => EXT[rng.below(EXT.len())],
                    Sizes::Fixed(_) => "bin",
                };
                (format!("/d{:04}/f{i:07}.{ext}", i % self.dirs), size)
            })
            .collect()
    }
}

pub struct Tree {
    /// The document root.
    pub root: PathBuf,
    /// Every file: (URL path, size).
    pub files: Vec<(String, u64)>,
    pub bytes: u64,
}

impl Tree {
    /// (URL path, file path) of every file, for eviction and `mincore`.
    pub fn paths(&self) -> Vec<(String, PathBuf)> {
        self.files
            .iter()
            .map(|(url, _)| (url.clone(), self.root.join(url.trim_start_matches('/'))))
            .collect()
    }
}

/// Bytes every file's content is cut from (at a per-file offset), so that
/// writing a million files is not spent generating random numbers.
const POOL: usize = 8 << 20;

fn pool(seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed ^ 0x00c0_ffee);
    let mut v = Vec::with_capacity(POOL);
    while v.len() < POOL {
        v.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    v
}

fn write_file(path: &Path, size: u64, pool: &[u8], offset: usize) -> io::Result<()> {
    let mut f = BufWriter::with_capacity(
        256 << 10,
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(path)?,
    );
    let mut left = size as usize;
    let mut at = offset % pool.len();
    while left > 0 {
        let n = left.min(pool.len() - at);
        f.write_all(&pool[at..at + n])?;
        left -= n;
        at = 0;
    }
    f.flush()
}

/// The tree of `spec` under `trees`: reused if it was built before, else
/// built (into a `.partial` directory renamed when complete).
pub fn ensure(trees: &Path, spec: &Spec) -> Result<Tree> {
    fs::create_dir_all(trees)?;
    // nginx's workers may run as an unprivileged user: let them read.
    fs::set_permissions(trees, fs::Permissions::from_mode(0o755))?;
    let dir = trees.join(spec.key());
    let manifest = dir.join("manifest.tsv");
    if manifest.is_file() {
        let files = read_manifest(&manifest)?;
        if files.len() as u64 == spec.files {
            let bytes = files.iter().map(|(_, s)| s).sum();
            eprintln!(
                "load: reusing the tree {} ({} files, {:.0} MB)",
                dir.display(),
                files.len(),
                bytes as f64 / 1e6
            );
            return Ok(Tree {
                root: dir.join("www"),
                files,
                bytes,
            });
        }
    }
    let files = spec.draw();
    let bytes: u64 = files.iter().map(|(_, s)| s).sum();
    eprintln!(
        "load: writing the tree {} ({} files in {} directories, {:.0} MB; kept for later runs)",
        dir.display(),
        spec.files,
        spec.dirs,
        bytes as f64 / 1e6
    );
    let started = Instant::now();
    let partial = trees.join(format!("{}.partial", spec.key()));
    if partial.exists() {
        fs::remove_dir_all(&partial)?;
    }
    // SAFETY: umask only sets this process's file-creation mask.
    unsafe {
        libc::umask(0o022);
    }
    let www = partial.join("www");
    fs::create_dir_all(&www)?;
    for d in 0..spec.dirs {
        fs::create_dir(www.join(format!("d{d:04}")))?;
    }
    fs::write(
        www.join("index.html"),
        "<!doctype html>\n<title>bench</title>\n<p>generated tree\n",
    )?;
    let pool = pool(spec.seed);
    // Two writers: creating files is mostly the kernel's work.
    let writers = 2;
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let (files, pool, www) = (&files, &pool, &www);
                scope.spawn(move || -> io::Result<()> {
                    for (i, (url, size)) in files.iter().enumerate().skip(w).step_by(writers) {
                        if i % 10_000 == 0 {
                            check_interrupt();
                        }
                        let offset = (i as u64).wrapping_mul(0x9e37_79b9) as usize;
                        write_file(&www.join(url.trim_start_matches('/')), *size, pool, offset)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| "a tree writer panicked")??;
        }
        Ok(())
    })?;
    let mut text = String::with_capacity(files.len() * 32);
    for (url, size) in &files {
        let _ = writeln!(text, "{url}\t{size}");
    }
    fs::write(partial.join("manifest.tsv"), text)?;
    // Clean pages, so that eviction (POSIX_FADV_DONTNEED) can drop them.
    // SAFETY: sync has no preconditions.
    unsafe {
        libc::sync();
    }
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::rename(&partial, &dir)?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
    eprintln!(
        "load: wrote the tree in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(Tree {
        root: dir.join("www"),
        files,
        bytes,
    })
}

fn read_manifest(path: &Path) -> Result<Vec<(String, u64)>> {
    let mut files = Vec::new();
    for line in BufReader::new(File::open(path)?).lines() {
        let line = line?;
        let (url, size) = line
            .split_once('\t')
            .ok_or_else(|| format!("bad line in {}: {line:?}", path.display()))?;
        files.push((url.to_string(), size.parse()?));
    }
    Ok(files)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Draw {
    /// Zipf with exponent 1.0: rank k is drawn with weight 1/k; ranks are
    /// given to files in a seeded random order, so popular files are spread
    /// over the directories.
    Zipf,
    Uniform,
}

impl Draw {
    pub fn name(self) -> &'static str {
        match self {
            Draw::Zipf => "zipf",
            Draw::Uniform => "uniform",
        }
    }
}

/// `n` file indices drawn from `files` files.
pub fn draw_list(files: usize, n: usize, draw: Draw, seed: u64) -> Vec<usize> {
    let mut rng = Rng::new(seed ^ 0x0011_5717);
    match draw {
        Draw::Uniform => (0..n).map(|_| rng.below(files)).collect(),
        Draw::Zipf => {
            let mut rank_to_file: Vec<usize> = (0..files).collect();
            for i in (1..files).rev() {
                rank_to_file.swap(i, rng.below(i + 1));
            }
            let mut cdf = Vec::with_capacity(files);
            let mut sum = 0.0;
            for k in 1..=files {
                sum += 1.0 / k as f64;
                cdf.push(sum);
            }
            (0..n)
                .map(|_| {
                    let u = rng.unit() * sum;
                    let rank = cdf.partition_point(|c| *c < u).min(files - 1);
                    rank_to_file[rank]
                })
                .collect()
        }
    }
}

/// Writes a path list (one URL path a line) for the Lua script; returns
/// how many distinct files it names.
pub fn write_list(path: &Path, tree: &Tree, picks: &[usize]) -> Result<usize> {
    let mut text = String::with_capacity(picks.len() * 24);
    let mut seen = vec![false; tree.files.len()];
    for &i in picks {
        seen[i] = true;
        let _ = writeln!(text, "{}", tree.files[i].0);
    }
    fs::write(path, text)?;
    Ok(seen.iter().filter(|s| **s).count())
}
