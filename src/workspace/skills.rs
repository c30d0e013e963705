//! Skills installed in a workspace (`millrace-agents/skills/`): finding
//! them (any directory holding a `SKILL.md`, by its directory name),
//! installing a local skill directory, the index lines
//! (`skills/skills_index.md`), the operation log
//! (`skills/skill_operations.jsonl`), exporting a skill as a zip archive,
//! and fetching the remote skills directory (through `curl`, with a time
//! limit, so an unreachable index is an error, never a hang).

use crate::workspace::{atomic, clock};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The remote directory of optional skills (a markdown table).
pub const DEFAULT_REMOTE_INDEX_URL: &str =
    "https://raw.githubusercontent.com/tim-osterhus/millrace-skills/main/index.md";
/// Where `refresh-remote-index` keeps the directory.
pub const REMOTE_INDEX_FILE: &str = "remote_skills_index.md";
pub const INDEX_FILE: &str = "skills_index.md";
/// How long one remote fetch may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub enum SkillError {
    NotFound(String),
    Exists(String),
    Invalid(String),
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    Remote(String),
}

impl fmt::Display for SkillError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkillError::NotFound(id) => write!(f, "skill not found: {id}"),
            SkillError::Exists(id) => write!(
                f,
                "skill already exists: {id} (use --update or --force to replace it)"
            ),
            SkillError::Invalid(m) => f.write_str(m),
            SkillError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            SkillError::Remote(m) => write!(f, "remote skills: {m}"),
        }
    }
}

impl std::error::Error for SkillError {}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SkillError + '_ {
    move |error| SkillError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// One installed skill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skill {
    pub id: String,
    /// The skill's directory.
    pub dir: PathBuf,
}

impl Skill {
    pub fn file(&self) -> PathBuf {
        self.dir.join("SKILL.md")
    }

    /// The first `# ` heading of its SKILL.md.
    pub fn title(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.file()).ok()?;
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix("# ").map(|t| t.trim().to_string()))
    }

    /// The `description:` of its frontmatter, if it has one.
    pub fn description(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.file()).ok()?;
        let front = text.strip_prefix("---\n")?;
        let end = front.find("\n---")?;
        front[..end].lines().find_map(|l| {
            l.strip_prefix("description:")
                .map(|d| d.trim().trim_matches('"').to_string())
        })
    }
}

/// Every skill under `dir` (at most four levels deep), sorted by id.
pub fn list(dir: &Path) -> Vec<Skill> {
    fn walk(dir: &Path, depth: usize, out: &mut Vec<Skill>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if path.join("SKILL.md").is_file() {
                out.push(Skill {
                    id: e.file_name().to_string_lossy().into_owned(),
                    dir: path.clone(),
                });
            }
            if depth < 4 {
                walk(&path, depth + 1, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, 1, &mut out);
    out.sort_by(|a, b| a.id.cmp(&b.id).then(a.dir.cmp(&b.dir)));
    out
}

pub fn find(dir: &Path, id: &str) -> Option<Skill> {
    list(dir).into_iter().find(|s| s.id == id)
}

/// Skills whose id or text contains `query` (case-insensitive).
pub fn search(dir: &Path, query: &str) -> Result<Vec<Skill>, SkillError> {
    let needle = query.trim().to_lowercase();
    if needle.is_empty() {
        return Err(SkillError::Invalid("search query is required".into()));
    }
    Ok(list(dir)
        .into_iter()
        .filter(|s| {
            s.id.to_lowercase().contains(&needle)
                || std::fs::read_to_string(s.file())
                    .map(|t| t.to_lowercase().contains(&needle))
                    .unwrap_or(false)
        })
        .collect())
}

/// A local skill: a directory holding `SKILL.md`, or a `SKILL.md` file.
pub fn local_source(reference: &str) -> Option<PathBuf> {
    let p = Path::new(reference);
    if p.is_dir() && p.join("SKILL.md").is_file() {
        return p.canonicalize().ok();
    }
    if p.is_file() && p.file_name().is_some_and(|n| n == "SKILL.md") {
        return p.parent()?.canonicalize().ok();
    }
    None
}

fn valid_id(id: &str) -> Result<(), SkillError> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(SkillError::Invalid(format!(
            "invalid skill id {id:?}: letters, digits, '-', '_' and '.' only"
        )))
    }
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), SkillError> {
    std::fs::create_dir_all(to).map_err(io(to))?;
    for e in std::fs::read_dir(from).map_err(io(from))?.flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let kind = e.file_type().map_err(io(&src))?;
        if kind.is_dir() {
            copy_dir(&src, &dst)?;
        } else if kind.is_file() {
            std::fs::copy(&src, &dst).map_err(io(&src))?;
        }
        // Symbolic links are not followed: a skill is plain files.
    }
    Ok(())
}

/// Copy the skill at `source` into `skills_dir/<its directory name>`;
/// `replace` allows replacing an installed one. Returns the new skill.
pub fn install_local(skills_dir: &Path, source: &Path, replace: bool) -> Result<Skill, SkillError> {
    let id = source
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    valid_id(&id)?;
    let dest = skills_dir.join(&id);
    if dest.exists() && !replace {
        return Err(SkillError::Exists(id));
    }
    if dest.canonicalize().ok().as_deref() == Some(source) {
        return Err(SkillError::Invalid(format!(
            "{} is already the installed skill",
            source.display()
        )));
    }
    // Copy beside, then swap: a failed copy leaves the installed skill as it was.
    let staging = skills_dir.join(format!(".{id}.installing"));
    let _ = std::fs::remove_dir_all(&staging);
    copy_dir(source, &staging)?;
    if dest.exists() {
        std::fs::remove_dir_all(&dest).map_err(io(&dest))?;
    }
    std::fs::rename(&staging, &dest).map_err(io(&dest))?;
    sync_index(skills_dir, &id, &format!("{id}/SKILL.md"))?;
    Ok(Skill { id, dir: dest })
}

/// Add `- <id>: <path>` to the index's installed list if it is not there.
pub fn sync_index(skills_dir: &Path, id: &str, rel: &str) -> Result<(), SkillError> {
    let index = skills_dir.join(INDEX_FILE);
    let existing =
        std::fs::read_to_string(&index).unwrap_or_else(|_| "# Skills Index\n".to_string());
    let entry = format!("- {id}: {rel}");
    if existing.lines().any(|l| l.trim() == entry) {
        return Ok(());
    }
    let text = format!("{}\n{entry}\n", existing.trim_end());
    atomic::write_atomic(&index, text.as_bytes()).map_err(io(&index))
}

/// Append one line to `skill_operations.jsonl`.
pub fn log_operation(
    skills_dir: &Path,
    operation: &str,
    id: &str,
    source: &str,
    destination: &str,
) -> Result<(), SkillError> {
    let path = skills_dir.join("skill_operations.jsonl");
    let line = serde_json::json!({
        "at": clock::now_rfc3339(),
        "operation": operation,
        "skill_id": id,
        "source": source,
        "destination": destination,
    });
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io(&path))?;
    f.write_all(format!("{line}\n").as_bytes())
        .map_err(io(&path))
}

// ---------------------------------------------------------------- export

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The files of a skill, relative paths with `/`, sorted.
fn files_of(dir: &Path) -> Result<Vec<(String, PathBuf)>, SkillError> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<(), SkillError> {
        for e in std::fs::read_dir(dir).map_err(io(dir))?.flatten() {
            let p = e.path();
            let kind = e.file_type().map_err(io(&p))?;
            if kind.is_dir() {
                walk(base, &p, out)?;
            } else if kind.is_file() {
                let rel = p.strip_prefix(base).unwrap_or(&p);
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push((rel.join("/"), p));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

/// Write the skill's files as a zip archive (stored, not compressed) at `dest`.
pub fn export_zip(skill: &Skill, dest: &Path) -> Result<usize, SkillError> {
    let files = files_of(&skill.dir)?;
    let mut out: Vec<u8> = Vec::new();
    let mut central: Vec<u8> = Vec::new();
    let le16 = |v: &mut Vec<u8>, x: u16| v.extend_from_slice(&x.to_le_bytes());
    let le32 = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&x.to_le_bytes());
    for (name, path) in &files {
        let data = std::fs::read(path).map_err(io(path))?;
        let too_big = |_| SkillError::Invalid(format!("{}: too large to export", path.display()));
        let size: u32 = data.len().try_into().map_err(too_big)?;
        let offset: u32 = out.len().try_into().map_err(too_big)?;
        let crc = crc32(&data);
        let n = name.len() as u16;
        le32(&mut out, 0x0403_4b50);
        for x in [20u16, 0, 0, 0, 0x21] {
            le16(&mut out, x);
        }
        le32(&mut out, crc);
        le32(&mut out, size);
        le32(&mut out, size);
        le16(&mut out, n);
        le16(&mut out, 0);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&data);
        le32(&mut central, 0x0201_4b50);
        for x in [20u16, 20, 0, 0, 0, 0x21] {
            le16(&mut central, x);
        }
        le32(&mut central, crc);
        le32(&mut central, size);
        le32(&mut central, size);
        le16(&mut central, n);
        for x in [0u16, 0, 0, 0] {
            le16(&mut central, x);
        }
        le32(&mut central, 0o100644 << 16);
        le32(&mut central, offset);
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    let cd_size = central.len() as u32;
    out.extend_from_slice(&central);
    le32(&mut out, 0x0605_4b50);
    le16(&mut out, 0);
    le16(&mut out, 0);
    le16(&mut out, files.len() as u16);
    le16(&mut out, files.len() as u16);
    le32(&mut out, cd_size);
    le32(&mut out, cd_offset);
    le16(&mut out, 0);
    atomic::write_atomic(dest, &out).map_err(io(dest))?;
    Ok(files.len())
}

// ---------------------------------------------------------------- remote

/// Fetch `url` with `curl`, failing after `FETCH_TIMEOUT`.
pub fn fetch(url: &str) -> Result<Vec<u8>, SkillError> {
    let secs = FETCH_TIMEOUT.as_secs().to_string();
    let out = std::process::Command::new("curl")
        .args([
            "--fail",
            "--silent",
            "--show-error",
            "--location",
            "--connect-timeout",
            &secs,
            "--max-time",
            &secs,
            url,
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                SkillError::Remote("fetching the remote index needs `curl` on PATH".into())
            }
            _ => SkillError::Remote(format!("cannot run curl: {e}")),
        })?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(SkillError::Remote(format!(
            "cannot fetch {url}: {}",
            if why.is_empty() {
                format!("curl exited with {}", out.status)
            } else {
                why
            }
        )));
    }
    Ok(out.stdout)
}

/// One row of the remote directory: `| `id` | description | tags | `path` | status |`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEntry {
    pub id: String,
    pub description: String,
    pub path: String,
    pub status: String,
}

pub fn parse_remote_index(text: &str) -> Vec<RemoteEntry> {
    let clean = |s: &str| s.trim().trim_matches('`').trim().to_string();
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with('|') && l.contains('`'))
        .filter_map(|l| {
            let cols: Vec<&str> = l.trim_matches('|').split('|').collect();
            if cols.len() < 5 || cols[0].trim().eq_ignore_ascii_case("skill") {
                return None;
            }
            let (id, path) = (clean(cols[0]), clean(cols[3]));
            (!id.is_empty() && !path.is_empty()).then(|| RemoteEntry {
                id,
                description: clean(cols[1]),
                path,
                status: clean(cols[4]).to_lowercase(),
            })
        })
        .collect()
}

/// The index URL: `MILLRACE_SKILLS_INDEX_URL`, else the default.
pub fn remote_index_url() -> String {
    std::env::var("MILLRACE_SKILLS_INDEX_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_REMOTE_INDEX_URL.to_string())
}

/// Fetch the remote directory into `skills_dir/remote_skills_index.md`.
pub fn refresh_remote_index(skills_dir: &Path) -> Result<PathBuf, SkillError> {
    let url = remote_index_url();
    let text = fetch(&url)?;
    let dest = skills_dir.join(REMOTE_INDEX_FILE);
    atomic::write_atomic(&dest, &text).map_err(io(&dest))?;
    log_operation(
        skills_dir,
        "refresh_remote_index",
        "remote-index",
        &url,
        &dest.display().to_string(),
    )?;
    Ok(dest)
}

/// Install a skill listed in the remote directory: its `SKILL.md`, fetched
/// from beside the index (the entry's path, relative to the index URL).
pub fn install_remote(skills_dir: &Path, id: &str, replace: bool) -> Result<Skill, SkillError> {
    valid_id(id)?;
    let url = remote_index_url();
    let index = String::from_utf8_lossy(&fetch(&url)?).into_owned();
    let entry = parse_remote_index(&index)
        .into_iter()
        .find(|e| e.id == id)
        .ok_or_else(|| SkillError::Remote(format!("no skill {id:?} in {url}")))?;
    let dest = skills_dir.join(id);
    if dest.exists() && !replace {
        return Err(SkillError::Exists(id.to_string()));
    }
    let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
    let rel = entry.path.trim_start_matches("./").trim_end_matches('/');
    if rel.split('/').any(|c| c == "..") {
        return Err(SkillError::Remote(format!("unsafe path {rel:?} for {id}")));
    }
    let file_url = if rel.ends_with("SKILL.md") {
        format!("{base}/{rel}")
    } else {
        format!("{base}/{rel}/SKILL.md")
    };
    let body = fetch(&file_url)?;
    std::fs::create_dir_all(&dest).map_err(io(&dest))?;
    let file = dest.join("SKILL.md");
    atomic::write_atomic(&file, &body).map_err(io(&file))?;
    sync_index(skills_dir, id, &format!("{id}/SKILL.md"))?;
    log_operation(
        skills_dir,
        "install",
        id,
        &file_url,
        &dest.display().to_string(),
    )?;
    Ok(Skill {
        id: id.to_string(),
        dir: dest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_of_a_known_string() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn the_remote_table_parses() {
        let t = "| Skill | Description | Tags | Path | Status |\n| --- | --- | --- | --- | --- |\n| `web-qa` | Browser QA. | `qa` | `skills/web-qa` | supported |\n";
        let e = parse_remote_index(t);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].id, "web-qa");
        assert_eq!(e[0].path, "skills/web-qa");
        assert_eq!(e[0].status, "supported");
    }

    #[test]
    fn ids_cannot_escape() {
        assert!(valid_id("../x").is_err());
        assert!(valid_id("..").is_err());
        assert!(valid_id("good-skill_1").is_ok());
    }
}
