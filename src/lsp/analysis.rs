//! One check of an open document, as `millrace lint` would run it on that
//! file: the file (with the editor's unsaved text, and the unsaved text of
//! every other open file it imports), what it imports, the checker's model
//! and diagnostics. Also where a span lives on disk, for locations; shipped
//! files embedded in the binary are copied once to the user's cache
//! directory so an editor can open them.

use super::documents::{self, Documents};
use crate::language::check::{self, Checked};
use crate::language::load::{Loader, Program, StdRoot};
use crate::language::source::{FileId, Origin, Span};
use lsp_types::{Location, Uri};
use std::path::{Path, PathBuf};

pub struct Analysis {
    pub program: Program,
    pub checked: Checked,
    /// The document's file in `program`.
    pub file: FileId,
    /// Where `std/...` imports resolve (`None`: the embedded stdlib).
    pub std_dir: Option<PathBuf>,
}

/// The stdlib a file sees: a workspace's `millrace-agents/mill/stdlib` when
/// the file is inside one, else the embedded one.
pub fn std_dir_for(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == "mill"))
        .map(|mill| mill.join("stdlib"))
        .filter(|d| d.is_dir())
}

/// Check the document at `uri` with every open document's text.
pub fn analyze(docs: &Documents, uri: &Uri) -> Option<Analysis> {
    let path = documents::path_of(uri)?;
    let text = docs.get(uri)?.to_string();
    let std_dir = std_dir_for(&path);
    let mut loader = Loader::new(
        std_dir
            .clone()
            .map(StdRoot::Dir)
            .unwrap_or(StdRoot::Embedded),
    );
    for (p, t) in docs.files() {
        loader.overlay(&p, t);
    }
    loader.overlay(&path, text);
    let file = loader.load_path(&path).ok()?;
    let program = loader.finish();
    let mut checked = check::check(&program);
    checked
        .diagnostics
        .extend(check::files::missing_files(&program, std_dir.as_deref()));
    Some(Analysis {
        program,
        checked,
        file,
        std_dir,
    })
}

/// Where shipped files are copied for the editor: the user's cache
/// directory (`$XDG_CACHE_HOME`, else `~/.cache`), else the temporary one.
fn cache_root() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("millrace")
        .join(format!("lsp-{}", env!("CARGO_PKG_VERSION")))
}

/// A disk copy of a shipped file (`stdlib/...`, `modes/...`), written once
/// per version (a fresh temporary file, never one that exists, renamed
/// into place).
pub fn shipped_file(name: &str) -> Option<PathBuf> {
    use std::io::Write;
    let bytes = crate::assets::get(name)?;
    let path = cache_root().join(name);
    if std::fs::read(&path).ok().as_deref() != Some(bytes) {
        std::fs::create_dir_all(path.parent()?).ok()?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .ok()?;
        f.write_all(bytes).ok()?;
        drop(f);
        std::fs::rename(&tmp, &path).ok()?;
    }
    Some(path)
}

impl Analysis {
    /// The text of the document as checked.
    pub fn text(&self) -> &str {
        &self.program.sources.get(self.file).text
    }

    /// The disk path of a loaded file.
    pub fn path_of(&self, file: FileId) -> Option<PathBuf> {
        let f = self.program.sources.get(file);
        match &f.origin {
            Origin::Disk(p) => Some(p.clone()),
            Origin::Embedded => shipped_file(&f.name),
        }
    }

    /// The editor location of a span.
    pub fn location(&self, span: Span) -> Option<Location> {
        let uri = documents::uri_of(&self.path_of(span.file)?)?;
        let text = &self.program.sources.get(span.file).text;
        Some(Location {
            uri,
            range: documents::range_of(text, span.start, span.end),
        })
    }
}
