//! The disk's durability budget: `writers` threads each create a 4 KiB file and fsync it,
//! over and over. Group commit is measured against this number.

use anyhow::Result;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub fn run(dir: &Path, writers: usize, seconds: u64) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let done = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let (dir, done) = (dir.to_owned(), done.clone());
            std::thread::spawn(move || -> std::io::Result<()> {
                let block = vec![b'x'; 4096];
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let path = dir.join(format!("{w}-{n}"));
                    let mut file = std::fs::File::create(&path)?;
                    file.write_all(&block)?;
                    file.sync_all()?;
                    std::fs::remove_file(&path)?;
                    done.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer thread")?;
    }
    let total = done.load(Ordering::Relaxed);
    println!(
        "workload=fsync writers={writers} fsyncs={total} fsyncs_per_s={:.1}",
        total as f64 / seconds as f64
    );
    Ok(())
}
