//! Source files and spans: where every piece of `.mill` text came from.
//!
//! A [`SourceSet`] owns the text of every loaded file; a [`Span`] is a byte
//! range in one of them. Line/column conversion lives here so that every
//! renderer (miette, JSON, GitHub annotations, source maps) agrees.

use serde::Serialize;
use std::sync::Arc;

/// Index of a file inside its [`SourceSet`].
pub type FileId = usize;

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Span {
    pub file: FileId,
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        Span { file, start, end }
    }
}

/// Where a file's text was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Shipped with the binary (`stdlib/...`, `modes/...`).
    Embedded,
    /// Read from disk at this path.
    Disk(std::path::PathBuf),
}

#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The name shown to people: a repository-relative path for shipped
    /// files, the path as given for files on disk.
    pub name: String,
    pub text: Arc<str>,
    pub origin: Origin,
    line_starts: Vec<usize>,
}

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LineCol {
    pub line: usize,
    pub column: usize,
}

impl SourceFile {
    pub fn new(name: String, text: Arc<str>, origin: Origin) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile {
            name,
            text,
            origin,
            line_starts,
        }
    }

    /// Line and column of a byte offset (clamped to the text).
    pub fn line_col(&self, offset: usize) -> LineCol {
        let offset = offset.min(self.text.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line];
        let column = self
            .text
            .get(start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(offset - start);
        LineCol {
            line: line + 1,
            column: column + 1,
        }
    }
}

/// Every file loaded for one compilation, indexed by [`FileId`].
#[derive(Debug, Clone, Default)]
pub struct SourceSet {
    files: Vec<SourceFile>,
}

impl SourceSet {
    pub fn add(&mut self, file: SourceFile) -> FileId {
        self.files.push(file);
        self.files.len() - 1
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id]
    }

    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The file id whose name or disk path equals `key`, if loaded.
    pub fn find(&self, key: &str) -> Option<FileId> {
        self.files.iter().position(|f| f.name == key)
    }

    pub fn text(&self, span: Span) -> &str {
        self.files[span.file]
            .text
            .get(span.start..span.end)
            .unwrap_or("")
    }

    pub fn line_col(&self, span: Span) -> LineCol {
        self.files[span.file].line_col(span.start)
    }

    pub fn end_line_col(&self, span: Span) -> LineCol {
        self.files[span.file].line_col(span.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one_and_in_chars() {
        let f = SourceFile::new("x".into(), "ab\ncé d\n".into(), Origin::Embedded);
        assert_eq!(f.line_col(0), LineCol { line: 1, column: 1 });
        assert_eq!(f.line_col(3), LineCol { line: 2, column: 1 });
        // 'é' is two bytes: byte 7 is the space after it, the third character.
        assert_eq!(f.line_col(6), LineCol { line: 2, column: 3 });
        assert_eq!(f.line_col(999), LineCol { line: 3, column: 1 });
    }
}
