//! From text to logical lines: parser directives at the very top
//! (`# escape=`, `# syntax=`, `# check=`, until the first line that is not
//! one), comment lines, line continuations (a line ending in the escape
//! character; comment and empty lines inside a continuation are
//! skipped, as BuildKit does), and the bodies of heredocs (`<<EOF` in a
//! RUN, COPY or ADD line: the next lines up to `EOF`).

use super::{Heredoc, Pos};

/// One instruction's text before it is parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Where the keyword starts.
    pub pos: Pos,
    pub keyword: String,
    /// Where the arguments start (on the first physical line).
    pub args_pos: Pos,
    /// The arguments, continuation lines joined.
    pub args: String,
    pub heredocs: Vec<Heredoc>,
}

/// The directives and the logical lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lexed {
    pub escape: char,
    pub syntax: Option<String>,
    pub lines: Vec<Line>,
}

/// A lexing error at a position (the caller adds the file name).
pub type LexError = (Pos, String);

/// Instructions whose arguments may open heredocs.
const HEREDOC_KEYWORDS: &[&str] = &["RUN", "COPY", "ADD"];

fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim_start().strip_prefix('#')?;
    let (k, v) = rest.split_once('=')?;
    let k = k.trim();
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some((k.to_ascii_lowercase(), v.trim().to_string()))
}

/// Splits `text` into directives and logical lines.
pub fn lex(text: &str) -> Result<Lexed, LexError> {
    let phys: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut escape = '\\';
    let mut syntax = None;
    let mut seen = Vec::new();
    let mut i = 0;
    while i < phys.len() {
        let Some((k, v)) = directive(phys[i]) else {
            break;
        };
        let pos = Pos {
            line: i + 1,
            col: 1,
        };
        match k.as_str() {
            "escape" | "syntax" | "check" => {
                if seen.contains(&k) {
                    return Err((pos, format!("only one {k} parser directive can be used")));
                }
                seen.push(k.clone());
            }
            // An unknown directive is a comment, and ends the directives.
            _ => break,
        }
        match k.as_str() {
            "escape" => {
                escape = match v.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err((
                            pos,
                            format!("invalid escape token {v:?} does not match ` or \\"),
                        ))
                    }
                }
            }
            "syntax" => syntax = Some(v),
            _ => {}
        }
        i += 1;
    }
    let mut lines = Vec::new();
    while i < phys.len() {
        let raw = phys[i];
        let t = raw.trim_start();
        if t.is_empty() || t.starts_with('#') {
            i += 1;
            continue;
        }
        let col = raw.len() - t.len() + 1;
        let pos = Pos { line: i + 1, col };
        let kw_len = t.find(char::is_whitespace).unwrap_or(t.len());
        let keyword = t[..kw_len].to_string();
        let after = &t[kw_len..];
        let args_first = after.trim_start();
        let args_pos = Pos {
            line: i + 1,
            col: col + kw_len + (after.len() - args_first.len()),
        };
        let (mut args, mut cont) = strip_continuation(args_first, escape);
        i += 1;
        while cont && i < phys.len() {
            let l = phys[i];
            i += 1;
            let lt = l.trim_start();
            if lt.trim().is_empty() || lt.starts_with('#') {
                continue;
            }
            let (part, c) = strip_continuation(l, escape);
            args.push_str(&part);
            cont = c;
        }
        let mut heredocs = Vec::new();
        if HEREDOC_KEYWORDS.contains(&keyword.to_ascii_uppercase().as_str())
            || (keyword.eq_ignore_ascii_case("ONBUILD")
                && args
                    .split_whitespace()
                    .next()
                    .is_some_and(|w| HEREDOC_KEYWORDS.contains(&w.to_ascii_uppercase().as_str())))
        {
            for m in heredoc_markers(&args) {
                let mut body = String::new();
                let mut found = false;
                while i < phys.len() {
                    let l = phys[i];
                    i += 1;
                    let l = if m.strip_tabs {
                        l.trim_start_matches('\t')
                    } else {
                        l
                    };
                    if l == m.name {
                        found = true;
                        break;
                    }
                    body.push_str(l);
                    body.push('\n');
                }
                if !found {
                    return Err((pos, format!("unterminated heredoc <<{}", m.name)));
                }
                heredocs.push(Heredoc {
                    name: m.name,
                    body,
                    expand: !m.quoted,
                });
            }
        }
        lines.push(Line {
            pos,
            keyword,
            args_pos,
            args: args.trim_end().to_string(),
            heredocs,
        });
    }
    Ok(Lexed {
        escape,
        syntax,
        lines,
    })
}

/// The line without a trailing escape character, and whether it had one.
fn strip_continuation(l: &str, escape: char) -> (String, bool) {
    let t = l.trim_end();
    match t.strip_suffix(escape) {
        Some(s) => (s.to_string(), true),
        None => (l.to_string(), false),
    }
}

pub(crate) struct Marker {
    pub name: String,
    pub strip_tabs: bool,
    pub quoted: bool,
}

/// The heredoc markers in a line, in order: `<<NAME`, `<<-NAME`,
/// `<<"NAME"`, `<<'NAME'` (not `<<<`).
pub(crate) fn heredoc_markers(s: &str) -> Vec<Marker> {
    let b: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == '<' && b[i + 1] == '<' && (i == 0 || b[i - 1] != '<') {
            let mut j = i + 2;
            if b.get(j) == Some(&'<') {
                i = j + 1;
                continue;
            }
            let strip_tabs = b.get(j) == Some(&'-');
            if strip_tabs {
                j += 1;
            }
            let quote = b.get(j).copied().filter(|c| *c == '"' || *c == '\'');
            if quote.is_some() {
                j += 1;
            }
            let start = j;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == '_') {
                j += 1;
            }
            if j > start {
                let name: String = b[start..j].iter().collect();
                if let Some(q) = quote {
                    if b.get(j) != Some(&q) {
                        i = j;
                        continue;
                    }
                    j += 1;
                }
                out.push(Marker {
                    name,
                    strip_tabs,
                    quoted: quote.is_some(),
                });
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_only_at_the_top() {
        let l = lex("# syntax=docker/dockerfile:1\n# escape=`\nFROM x\n# escape=\\\n").unwrap();
        assert_eq!(l.escape, '`');
        assert_eq!(l.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(l.lines.len(), 1);
        let l = lex("# comment\n# escape=`\nFROM x").unwrap();
        assert_eq!(l.escape, '\\');
        let l = lex("\n# escape=`\nFROM x").unwrap();
        assert_eq!(l.escape, '\\');
        let l = lex("# unknown=1\n# escape=`\nFROM x").unwrap();
        assert_eq!(l.escape, '\\');
        assert_eq!(
            lex("# escape=`\n# ESCAPE=\\\n").unwrap_err(),
            (
                Pos { line: 2, col: 1 },
                "only one escape parser directive can be used".into()
            )
        );
        assert!(lex("# escape=x\n")
            .unwrap_err()
            .1
            .contains("invalid escape"));
    }

    #[test]
    fn continuations_skip_comments_and_blank_lines() {
        let l = lex("RUN echo a \\\n# inside\n\n  b \\\n  c\nCMD x\n").unwrap();
        assert_eq!(l.lines[0].args, "echo a   b   c");
        assert_eq!(l.lines[1].pos, Pos { line: 6, col: 1 });
        let l = lex("# escape=`\nRUN dir c:\\ `\n  d\n").unwrap();
        assert_eq!(l.lines[0].args, "dir c:\\   d");
    }

    #[test]
    fn positions_of_keyword_and_arguments() {
        let l = lex("\n\n    run   echo\n").unwrap();
        assert_eq!(l.lines[0].pos, Pos { line: 3, col: 5 });
        assert_eq!(l.lines[0].keyword, "run");
        assert_eq!(l.lines[0].args_pos, Pos { line: 3, col: 11 });
    }

    #[test]
    fn heredocs_collect_bodies_in_order() {
        let t = "RUN <<A cat - <<-'B'\none $x\nA\n\t\ttwo\n\tB\nCOPY <<\"C\" /c\nthree\nC\nRUN echo '<<<no'\n";
        let l = lex(t).unwrap();
        assert_eq!(l.lines.len(), 3);
        let h = &l.lines[0].heredocs;
        assert_eq!(
            h[0],
            Heredoc {
                name: "A".into(),
                body: "one $x\n".into(),
                expand: true
            }
        );
        assert_eq!(
            h[1],
            Heredoc {
                name: "B".into(),
                body: "two\n".into(),
                expand: false
            }
        );
        assert_eq!(l.lines[1].heredocs[0].name, "C");
        assert!(!l.lines[1].heredocs[0].expand);
        assert!(l.lines[2].heredocs.is_empty());
        assert_eq!(
            lex("FROM x\nRUN <<EOF\nnever ends\n").unwrap_err(),
            (Pos { line: 2, col: 1 }, "unterminated heredoc <<EOF".into())
        );
    }
}
