//! Loading: reads `.mill` files (from disk or the embedded stdlib), follows
//! their imports, parses each once, and records which files each file can see.
//!
//! Import paths are relative to the importing file, except `std/...`, which
//! names the standard library: the embedded copy, or a deployed directory
//! when one is given (a workspace's `millrace-agents/mill/stdlib`).

use super::ast;
use super::diagnostic::{Code, Diagnostic};
use super::source::{FileId, Origin, SourceFile, SourceSet, Span};
use super::syntax;
use std::collections::{BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};

/// Where `std/...` imports resolve.
#[derive(Debug, Clone)]
pub enum StdRoot {
    Embedded,
    Dir(PathBuf),
}

/// Every file loaded for one check, parsed, with import visibility.
#[derive(Debug, Default)]
pub struct Program {
    pub sources: SourceSet,
    /// Parsed files by id; `None` where the file failed to parse or read.
    pub files: Vec<Option<ast::File>>,
    /// The files each file imports directly.
    pub imports: Vec<Vec<FileId>>,
    /// Files given by the caller (not only reached through imports).
    pub roots: Vec<FileId>,
    /// Diagnostics from reading and parsing.
    pub diagnostics: Vec<Diagnostic>,
}

impl Program {
    /// The files visible from `file`: itself and everything it imports, transitively.
    pub fn visible_from(&self, file: FileId) -> BTreeSet<FileId> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![file];
        while let Some(f) = stack.pop() {
            if seen.insert(f) {
                stack.extend(self.imports[f].iter().copied());
            }
        }
        seen
    }
}

/// An error that stops loading before any checking: exit status 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError(pub String);

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub struct Loader {
    std: StdRoot,
    program: Program,
    by_key: HashMap<String, FileId>,
}

/// A file's identity: its embedded path or its absolute disk path.
#[derive(Debug, Clone)]
enum Key {
    Embedded(String),
    Disk(PathBuf),
}

impl Key {
    fn text(&self) -> String {
        match self {
            Key::Embedded(p) => format!("embedded:{p}"),
            Key::Disk(p) => format!("disk:{}", p.display()),
        }
    }
}

/// Resolve `.` and `..` in a `/`-separated embedded path; `None` if it escapes.
fn normalize_embedded(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

fn normalize_disk(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

impl Loader {
    pub fn new(std: StdRoot) -> Self {
        // Keys of disk files are absolute, so the stdlib directory must be too:
        // a file reached both by path and by `std/...` is then loaded once.
        let std = match std {
            StdRoot::Dir(d) => StdRoot::Dir(normalize_disk(&std::path::absolute(&d).unwrap_or(d))),
            e => e,
        };
        Loader {
            std,
            program: Program::default(),
            by_key: HashMap::new(),
        }
    }

    /// Load every embedded `.mill` file (the shipped stdlib and modes).
    pub fn load_embedded_all(&mut self) {
        for (path, _) in crate::assets::mill_sources() {
            let id = self.load_key(Key::Embedded(path.to_string()), None);
            if let Some(id) = id {
                self.program.roots.push(id);
            }
        }
    }

    /// Load one embedded file by repository path (e.g. `modes/demo.mill`).
    pub fn load_embedded(&mut self, path: &str) -> Result<FileId, LoadError> {
        if crate::assets::get(path).is_none() {
            return Err(LoadError(format!("no shipped file {path}")));
        }
        let id = self
            .load_key(Key::Embedded(path.to_string()), None)
            .ok_or_else(|| LoadError(format!("{path}: could not be loaded")))?;
        self.program.roots.push(id);
        Ok(id)
    }

    /// Load a file from disk as a root. A missing or unreadable root is a
    /// [`LoadError`]; problems in what it imports are diagnostics.
    pub fn load_path(&mut self, path: &Path) -> Result<FileId, LoadError> {
        read_source(path).map_err(|e| LoadError(format!("{}: {e}", path.display())))?;
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let id = self
            .load_key_named(
                Key::Disk(normalize_disk(&abs)),
                None,
                Some(path.display().to_string()),
            )
            .ok_or_else(|| LoadError(format!("{}: could not be loaded", path.display())))?;
        if !self.program.roots.contains(&id) {
            self.program.roots.push(id);
        }
        Ok(id)
    }

    pub fn finish(self) -> Program {
        self.program
    }

    fn load_key(&mut self, key: Key, from: Option<(FileId, Span)>) -> Option<FileId> {
        self.load_key_named(key, from, None)
    }

    fn load_key_named(
        &mut self,
        key: Key,
        from: Option<(FileId, Span)>,
        display: Option<String>,
    ) -> Option<FileId> {
        if let Some(&id) = self.by_key.get(&key.text()) {
            return Some(id);
        }
        let (name, text, origin) = match &key {
            Key::Embedded(p) => {
                let bytes = crate::assets::get(p)?;
                match std::str::from_utf8(bytes) {
                    Ok(t) => (p.clone(), t.to_string(), Origin::Embedded),
                    Err(_) => return None,
                }
            }
            Key::Disk(p) => {
                let name = display.unwrap_or_else(|| display_path(p));
                match read_source(p) {
                    Ok(t) => (name, t, Origin::Disk(p.clone())),
                    Err(ReadError::Missing) => return None,
                    Err(e) => {
                        if let Some((_, span)) = from {
                            self.program.diagnostics.push(
                                Diagnostic::error(
                                    Code::Io,
                                    span,
                                    format!("imported file {name} {e}"),
                                )
                                .label("imported here")
                                .help(e.help()),
                            );
                        }
                        return None;
                    }
                }
            }
        };
        let id = self
            .program
            .sources
            .add(SourceFile::new(name, text.clone().into(), origin));
        self.by_key.insert(key.text(), id);
        self.program.files.push(None);
        self.program.imports.push(Vec::new());
        match syntax::parse(id, &text) {
            Ok(file) => {
                let imports = file.imports.clone();
                self.program.files[id] = Some(file);
                for imp in imports {
                    self.resolve_import(id, &key, &imp);
                }
            }
            Err(d) => self.program.diagnostics.push(*d),
        }
        Some(id)
    }

    fn resolve_import(&mut self, from: FileId, from_key: &Key, imp: &ast::Str) {
        if !imp.value.ends_with(".mill") {
            self.program.diagnostics.push(
                Diagnostic::error(
                    Code::ImportNotMill,
                    imp.span,
                    format!("import \"{}\" does not name a .mill file", imp.value),
                )
                .label("not a .mill source file")
                .help("only .mill source files are imported (like \"std/loops/execution.mill\" or \"shared/review.mill\"); no other file is ever read"),
            );
            return;
        }
        let target = if let Some(rest) = imp.value.strip_prefix("std/") {
            match &self.std {
                StdRoot::Embedded => {
                    normalize_embedded(&format!("stdlib/{rest}")).map(Key::Embedded)
                }
                StdRoot::Dir(d) => Some(Key::Disk(normalize_disk(&d.join(rest)))),
            }
        } else {
            match from_key {
                Key::Embedded(p) => {
                    let dir = p.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                    normalize_embedded(&format!("{dir}/{}", imp.value)).map(Key::Embedded)
                }
                Key::Disk(p) => {
                    let dir = p.parent().unwrap_or(Path::new("/"));
                    Some(Key::Disk(normalize_disk(&dir.join(&imp.value))))
                }
            }
        };
        let loaded = target
            .clone()
            .and_then(|k| self.load_key(k, Some((from, imp.span))));
        match loaded {
            Some(id) => self.program.imports[from].push(id),
            None => {
                let reported = self
                    .program
                    .diagnostics
                    .iter()
                    .any(|d| d.primary.span == imp.span);
                if !reported {
                    let where_ = match &target {
                        Some(Key::Disk(p)) => format!(" (looked for {})", display_path(p)),
                        Some(Key::Embedded(p)) => format!(" (looked for shipped {p})"),
                        None => String::new(),
                    };
                    self.program.diagnostics.push(
                        Diagnostic::error(
                            Code::UnresolvedImport,
                            imp.span,
                            format!("cannot find imported file \"{}\"{where_}", imp.value),
                        )
                        .label("no such file")
                        .help("import paths are relative to this file; `std/...` names the standard library (std/stages/execution.mill, std/loops/execution.mill, ...)"),
                    );
                }
            }
        }
    }
}

/// The largest `.mill` file the loader reads: 1 MiB. The shipped files are a
/// few KiB each; anything larger is refused before it is read.
pub const MAX_SOURCE_BYTES: u64 = 1 << 20;

/// Why a `.mill` file was not read. None of these quotes the file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// No file at the path.
    Missing,
    /// The path exists but could not be opened or read.
    Unreadable(String),
    /// The path is not named `*.mill`.
    NotMill,
    /// The path is a link to a file not named `*.mill`.
    LinkNotMill,
    /// A directory, FIFO, device or socket.
    NotRegular(&'static str),
    /// Larger than [`MAX_SOURCE_BYTES`].
    TooLarge,
    NotUtf8,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Missing => f.write_str("cannot read: no such file"),
            ReadError::Unreadable(why) => write!(f, "cannot read: {why}"),
            ReadError::NotMill => f.write_str("is not a .mill file"),
            ReadError::LinkNotMill => f.write_str("is a link to a file that is not a .mill file"),
            ReadError::NotRegular(kind) => write!(f, "is not a regular file (it is {kind})"),
            ReadError::TooLarge => write!(
                f,
                "is larger than {} KiB, the limit for a .mill file",
                MAX_SOURCE_BYTES / 1024
            ),
            ReadError::NotUtf8 => f.write_str("is not valid UTF-8"),
        }
    }
}

impl ReadError {
    /// The help line for a diagnostic about an import that hit this error.
    pub fn help(&self) -> &'static str {
        match self {
            ReadError::NotUtf8 => "save the file as UTF-8 text",
            ReadError::TooLarge => "split the file: .mill sources are read only up to 1 MiB",
            ReadError::NotMill | ReadError::LinkNotMill => {
                "imports must lead to .mill source files; a link may point only at a .mill file"
            }
            ReadError::NotRegular(_) => {
                "import a regular .mill file; directories, devices and pipes are never read"
            }
            ReadError::Missing | ReadError::Unreadable(_) => {
                "check the path and the file's permissions"
            }
        }
    }
}

fn has_mill_extension(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "mill")
}

/// Read one `.mill` source safely: the path and the file it resolves to must
/// be named `*.mill`, the file must be regular (opened non-blocking, so a FIFO
/// cannot hang the loader, and checked with `fstat` before any read), and at
/// most [`MAX_SOURCE_BYTES`] are read whatever the file claims its size is.
pub fn read_source(path: &Path) -> Result<String, ReadError> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    if !has_mill_extension(path) {
        return Err(ReadError::NotMill);
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ReadError::Missing,
            _ => ReadError::Unreadable(io_reason(&e)),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| ReadError::Unreadable(io_reason(&e)))?;
    let ft = meta.file_type();
    if !ft.is_file() {
        return Err(ReadError::NotRegular(if ft.is_dir() {
            "a directory"
        } else if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_char_device() || ft.is_block_device() {
            "a device"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        }));
    }
    // A link named `x.mill` must lead to a `.mill` file too.
    let real = std::fs::canonicalize(path).map_err(|e| ReadError::Unreadable(io_reason(&e)))?;
    if !has_mill_extension(&real) {
        return Err(ReadError::LinkNotMill);
    }
    if meta.len() > MAX_SOURCE_BYTES {
        return Err(ReadError::TooLarge);
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_SOURCE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ReadError::Unreadable(io_reason(&e)))?;
    if bytes.len() as u64 > MAX_SOURCE_BYTES {
        return Err(ReadError::TooLarge);
    }
    String::from_utf8(bytes).map_err(|_| ReadError::NotUtf8)
}

/// A path relative to the current directory when it is below it.
fn display_path(p: &Path) -> String {
    if let Ok(cwd) = std::env::current_dir() {
        if let Ok(rel) = p.strip_prefix(&cwd) {
            return rel.display().to_string();
        }
    }
    p.display().to_string()
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ if e.raw_os_error() == Some(21) => "is a directory".to_string(),
        _ => e.to_string(),
    }
}

/// Expand command-line paths into `.mill` files: a file is taken as is, a
/// directory contributes every `.mill` file below it, in sorted order.
pub fn expand_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p)
            .map_err(|e| LoadError(format!("{}: cannot read: {}", p.display(), io_reason(&e))))?;
        if meta.is_dir() {
            let before = out.len();
            walk(p, &mut out)?;
            if out.len() == before {
                return Err(LoadError(format!(
                    "{}: directory contains no .mill files",
                    p.display()
                )));
            }
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Collect the `.mill` files below `dir` in sorted order, iteratively. Links
/// to directories are not followed, so a link cycle cannot make the walk
/// endless; a link to a file is taken like the file (and read by the rules of
/// [`read_source`]).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    // A stack of directory listings still to visit, each in reverse sorted order.
    let list = |d: &Path| -> Result<Vec<(PathBuf, bool)>, LoadError> {
        let mut entries: Vec<(PathBuf, bool)> = std::fs::read_dir(d)
            .map_err(|e| LoadError(format!("{}: cannot read: {}", d.display(), io_reason(&e))))?
            .filter_map(Result::ok)
            .map(|e| {
                let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
                (e.path(), is_dir)
            })
            .collect();
        entries.sort();
        entries.reverse();
        Ok(entries)
    };
    let mut stack = vec![list(dir)?];
    while let Some(top) = stack.last_mut() {
        let Some((path, is_dir)) = top.pop() else {
            stack.pop();
            continue;
        };
        if is_dir {
            stack.push(list(&path)?);
        } else if has_mill_extension(&path) {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_paths_normalize_and_refuse_escape() {
        assert_eq!(
            normalize_embedded("modes/../stdlib/./loops/x.mill").as_deref(),
            Some("stdlib/loops/x.mill")
        );
        assert_eq!(normalize_embedded("../../x"), None);
    }

    #[test]
    fn shipped_files_load_with_their_imports() {
        let mut l = Loader::new(StdRoot::Embedded);
        let id = l.load_embedded("modes/learning_pi.mill").unwrap();
        let p = l.finish();
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        let names: Vec<_> = p
            .visible_from(id)
            .into_iter()
            .map(|f| p.sources.get(f).name.clone())
            .collect();
        assert!(
            names.contains(&"stdlib/stages/learning.mill".to_string()),
            "{names:?}"
        );
        assert!(names.contains(&"modes/default_codex.mill".to_string()));
    }
}
