//! `hermod backup DIR` and `hermod restore DIR`.
//!
//! A backup folder holds the store (`hermod.db`, `blobs/`: see `hermod_store::backup` for how
//! it stays consistent while the server runs), the data directory's secrets (`srs.key`, `web.key`, `lists.key`,
//! `tls/`, `acme/`: the ACME account and certificate), and under `config/` the configuration file and the block list it names when that
//! lies beside it. `hermod.db` is written last: a folder without it is an interrupted backup.

use anyhow::{Context, Result, bail};
use hermod_config::Config;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// What is copied from the data directory besides the store.
const DATA_EXTRAS: [&str; 5] = ["srs.key", "web.key", "lists.key", "tls", "acme"];
/// The backup's folder for the configuration.
const CONFIG_DIR: &str = "config";
/// The configuration's name inside [`CONFIG_DIR`].
const CONFIG_NAME: &str = "hermod.toml";

pub fn backup(config: &Config, dir: &Path) -> Result<()> {
    if dir.exists() && !is_empty_dir(dir)? {
        bail!(
            "{} is not empty: back up into a new or empty folder",
            dir.display()
        );
    }
    make_private_dir(dir)?;
    // The backup folder's own name must survive a crash too.
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    for name in DATA_EXTRAS {
        copy_tree(&config.data_dir.join(name), &dir.join(name))?;
    }
    let config_dir = dir.join(CONFIG_DIR);
    make_private_dir(&config_dir)?;
    copy_tree(&config.path, &config_dir.join(CONFIG_NAME))?;
    for (from, relative) in config_files(config) {
        copy_tree(&from, &config_dir.join(relative))?;
    }
    sync_dir(&config_dir)?;
    // The store last: its index, renamed into place at the very end, marks the backup whole.
    let report = hermod_store::backup(&config.data_dir, dir).with_context(|| {
        format!(
            "backup of {} failed (remove the incomplete copy {} before trying again)",
            config.data_dir.display(),
            dir.display()
        )
    })?;
    let c = &report.contents;
    println!(
        "backed up {} messages of {} users into {}: {} bodies in files ({} bytes), {} in the \
         index ({} bytes), index {} bytes",
        c.messages,
        c.users,
        dir.display(),
        c.file_bodies,
        c.file_bytes,
        c.inline_bodies,
        c.inline_bytes,
        c.index_bytes,
    );
    println!(
        "snapshot taken {} (unix {}), read in {} ms{}; also copied: {}, the configuration",
        hermod_message::rfc5322_date(report.snapshot),
        unix(report.snapshot),
        report.snapshot_took.as_millis(),
        match report.attempts {
            1 => String::new(),
            n => format!(" ({n} snapshots: bodies were expunged during the copy)"),
        },
        DATA_EXTRAS
            .iter()
            .filter(|n| config.data_dir.join(n).exists())
            .copied()
            .collect::<Vec<_>>()
            .join(", "),
    );
    Ok(())
}

/// Restores a backup. When the configuration file does not exist yet it comes from the
/// backup (so the `--config` path decides where everything goes); an existing one is kept.
pub fn restore(config_path: &Path, dir: &Path) -> Result<()> {
    let saved = dir.join(CONFIG_DIR);
    if !dir.join("hermod.db").is_file() {
        bail!(
            "{} is not a complete hermod backup (no hermod.db)",
            dir.display()
        );
    }
    // Checked before anything is written: a damaged backup leaves no trace behind.
    hermod_store::check_backup(dir).context("refusing to restore")?;
    let installed_config = !config_path.exists();
    if installed_config {
        let parent = config_path.parent().unwrap_or(Path::new("."));
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        // Refuse before writing anything, from what the saved configuration would name.
        let would_be = load(&saved.join(CONFIG_NAME))?;
        let data_dir = relocate(&would_be.data_dir, &saved, parent);
        refuse_unless_empty(&data_dir, &[])?;
        make_private_dir(parent)?;
        install_config(&saved, config_path, parent)?;
    }
    let config = load(config_path)?;
    crate::store::embedded_only(
        &config,
        "restore",
        "restore the database with its own tools (pg_restore, or a base backup with its WAL)",
    )?;
    refuse_unless_empty(&config.data_dir, &kept_files(&config))?;
    let report = hermod_store::restore(dir, &config.data_dir)
        .with_context(|| format!("restore into {} failed", config.data_dir.display()))?;
    for name in DATA_EXTRAS {
        copy_tree(&dir.join(name), &config.data_dir.join(name))?;
    }
    sync_dir(&config.data_dir)?;
    let c = &report.contents;
    println!(
        "restored {} messages of {} users into {}: every body checked ({} files, {} bytes; {} \
         in the index, {} bytes){}",
        c.messages,
        c.users,
        config.data_dir.display(),
        c.file_bodies,
        c.file_bytes,
        c.inline_bodies,
        c.inline_bytes,
        if installed_config {
            format!("; configuration installed as {}", config_path.display())
        } else {
            format!(
                "; kept the existing configuration {}",
                config_path.display()
            )
        },
    );
    Ok(())
}

/// Puts the saved configuration at `config_path` and the files saved with it in `parent`,
/// keeping any file already there (it may be another server's).
fn install_config(saved: &Path, config_path: &Path, parent: &Path) -> Result<()> {
    let entries =
        fs::read_dir(saved).with_context(|| format!("cannot read {}", saved.display()))?;
    for entry in entries {
        let entry = entry?;
        if entry.file_name() != CONFIG_NAME && !parent.join(entry.file_name()).exists() {
            copy_tree(&entry.path(), &parent.join(entry.file_name()))?;
        }
    }
    copy_tree(&saved.join(CONFIG_NAME), config_path)
}

fn load(path: &Path) -> Result<Config> {
    hermod_config::load(path).map_err(|errors| anyhow::anyhow!("{errors}"))
}

/// Files the configuration names that belong with it: the block and allow lists, when they
/// lie in the configuration's folder (anything elsewhere is the administrator's to copy).
fn config_files(config: &Config) -> Vec<(PathBuf, PathBuf)> {
    let base = config.path.parent().unwrap_or(Path::new("."));
    let lists = [&config.spam.blocklist_file, &config.spam.allowlist_file];
    lists
        .into_iter()
        .flatten()
        .filter_map(|file| {
            let relative = file.strip_prefix(base).ok()?;
            file.exists().then(|| (file.clone(), relative.to_owned()))
        })
        .collect()
}

/// What may already be in the data directory: the configuration and its network lists.
fn kept_files(config: &Config) -> Vec<PathBuf> {
    let mut kept = vec![config.path.clone()];
    kept.extend(config.spam.blocklist_file.iter().cloned());
    kept.extend(config.spam.allowlist_file.iter().cloned());
    kept
}

/// `path` as it resolves once the saved configuration's folder `from` becomes `to`.
fn relocate(path: &Path, from: &Path, to: &Path) -> PathBuf {
    match path.strip_prefix(from) {
        Ok(relative) => to.join(relative),
        Err(_) => path.to_owned(),
    }
}

fn refuse_unless_empty(data_dir: &Path, kept: &[PathBuf]) -> Result<()> {
    let entries = match fs::read_dir(data_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).context(format!("cannot read {}", data_dir.display())),
    };
    for entry in entries {
        let path = entry?.path();
        if !kept.iter().any(|k| same_file(k, &path)) {
            bail!(
                "{} is not empty (it holds {}): restore only into an empty data directory",
                data_dir.display(),
                path.display()
            );
        }
    }
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn is_empty_dir(dir: &Path) -> Result<bool> {
    let mut entries =
        fs::read_dir(dir).with_context(|| format!("{} is not a folder", dir.display()))?;
    Ok(entries.next().is_none())
}

fn make_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

/// Copies a file or a folder's tree (nothing when `from` does not exist), fsyncing each
/// file and folder written, with the source's permissions (keys stay private).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let meta = match fs::symlink_metadata(from) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).context(format!("cannot read {}", from.display())),
    };
    if meta.is_dir() {
        make_private_dir(to)?;
        for entry in
            fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))?
        {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        return sync_dir(to);
    }
    fs::copy(from, to)
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    fs::File::open(to)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot sync {}", to.display()))?;
    if let Some(parent) = to.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))
}

fn unix(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
