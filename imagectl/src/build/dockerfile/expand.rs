//! Shell-like words: [`split_words`] cuts an argument string at unquoted
//! white space (keeping quotes and escapes for later), and [`expand_word`]
//! then removes the quotes, applies the escape character and expands
//! variables, as BuildKit's `shell.Lex` does:
//! - `'...'` is literal; in `"..."` only `$` expands and the escape
//!   character escapes `"`, `$` and itself; outside quotes the escape
//!   character makes the next character literal (`\$HOME` is `$HOME`);
//! - `$VAR` and `${VAR}`; an unset variable is empty;
//! - `${VAR:-word}` (word when unset or empty), `${VAR-word}` (when
//!   unset), `${VAR:+word}` (word when set and non-empty, else empty),
//!   `${VAR+word}` (when set), `${VAR:?msg}` / `${VAR?msg}` (an error);
//!   `word` is itself expanded.
//!
//! [`expand_text`] is for heredoc bodies: only `$` expansions, quotes kept.

/// Why a word could not be expanded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExpandError {
    #[error("unterminated quote in {0:?}")]
    UnterminatedQuote(String),
    #[error("missing '}}' in {0:?}")]
    MissingBrace(String),
    #[error("bad substitution in {0:?}")]
    BadSubstitution(String),
    #[error("{name}: {msg}")]
    Required { name: String, msg: String },
}

/// Looks a variable up: `None` when unset.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Splits at unquoted, unescaped white space; quotes and escapes stay in
/// the words (for [`expand_word`]).
pub fn split_words(s: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == q {
                    quote = None;
                } else if c == escape && q == '"' {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                }
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                in_word = true;
                cur.push(c);
                if c == '\'' || c == '"' {
                    quote = Some(c);
                } else if c == escape {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                }
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// Removes quotes, applies escapes and expands variables in one word.
pub fn expand_word(word: &str, escape: char, lookup: Lookup) -> Result<String, ExpandError> {
    let chars: Vec<char> = word.chars().collect();
    let mut lx = Lexer {
        src: word,
        chars: &chars,
        i: 0,
        escape,
        lookup,
        quotes: true,
    };
    lx.run(false)
}

/// [`split_words`] then [`expand_word`] on each.
pub fn expand_words(s: &str, escape: char, lookup: Lookup) -> Result<Vec<String>, ExpandError> {
    split_words(s, escape)
        .iter()
        .map(|w| expand_word(w, escape, lookup))
        .collect()
}

/// Expands `$VAR` forms only (quotes are ordinary characters): for
/// heredoc bodies. The escape character before `$` keeps it literal.
pub fn expand_text(text: &str, escape: char, lookup: Lookup) -> Result<String, ExpandError> {
    let chars: Vec<char> = text.chars().collect();
    let mut lx = Lexer {
        src: text,
        chars: &chars,
        i: 0,
        escape,
        lookup,
        quotes: false,
    };
    lx.run(false)
}

struct Lexer<'a> {
    src: &'a str,
    chars: &'a [char],
    i: usize,
    escape: char,
    lookup: Lookup<'a>,
    /// Whether quotes and escapes are processed (false for heredocs).
    quotes: bool,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    /// Up to the end, or (in a `${..}` word) up to the closing brace,
    /// which is consumed.
    fn run(&mut self, in_brace: bool) -> Result<String, ExpandError> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                '}' if in_brace => return Ok(out),
                '$' => out.push_str(&self.dollar()?),
                '\'' if self.quotes => loop {
                    match self.peek() {
                        None => return Err(ExpandError::UnterminatedQuote(self.src.into())),
                        Some('\'') => {
                            self.i += 1;
                            break;
                        }
                        Some(ch) => {
                            self.i += 1;
                            out.push(ch);
                        }
                    }
                },
                '"' if self.quotes => out.push_str(&self.double_quoted()?),
                e if e == self.escape => match self.peek() {
                    None => out.push(e),
                    Some(n) if self.quotes => {
                        self.i += 1;
                        out.push(n);
                    }
                    Some('$') => {
                        self.i += 1;
                        out.push('$');
                    }
                    Some(_) => out.push(e),
                },
                c => out.push(c),
            }
        }
        if in_brace {
            return Err(ExpandError::MissingBrace(self.src.into()));
        }
        Ok(out)
    }

    fn double_quoted(&mut self) -> Result<String, ExpandError> {
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(ExpandError::UnterminatedQuote(self.src.into()));
            };
            self.i += 1;
            match c {
                '"' => return Ok(out),
                '$' => out.push_str(&self.dollar()?),
                e if e == self.escape => match self.peek() {
                    Some(n) if n == '"' || n == '$' || n == e => {
                        self.i += 1;
                        out.push(n);
                    }
                    _ => out.push(e),
                },
                c => out.push(c),
            }
        }
    }

    fn name(&mut self) -> String {
        let mut n = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                n.push(c);
                self.i += 1;
            } else {
                break;
            }
        }
        n
    }

    /// After a `$`.
    fn dollar(&mut self) -> Result<String, ExpandError> {
        match self.peek() {
            Some('{') => {
                self.i += 1;
                self.braced()
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let n = self.name();
                Ok((self.lookup)(&n).unwrap_or_default())
            }
            Some(c) if c.is_ascii_digit() => {
                // Positional parameters: always empty in a Dockerfile.
                self.i += 1;
                Ok(String::new())
            }
            _ => Ok("$".into()),
        }
    }

    /// After `${`.
    fn braced(&mut self) -> Result<String, ExpandError> {
        let name = self.name();
        if name.is_empty() {
            return Err(ExpandError::BadSubstitution(self.src.into()));
        }
        let value = (self.lookup)(&name);
        let Some(c) = self.peek() else {
            return Err(ExpandError::MissingBrace(self.src.into()));
        };
        self.i += 1;
        let colon = c == ':';
        let op = if colon {
            let o = self
                .peek()
                .ok_or_else(|| ExpandError::MissingBrace(self.src.into()))?;
            self.i += 1;
            o
        } else {
            c
        };
        if op == '}' && !colon {
            return Ok(value.unwrap_or_default());
        }
        let set = match (&value, colon) {
            (Some(v), true) => !v.is_empty(),
            (Some(_), false) => true,
            (None, _) => false,
        };
        match op {
            '-' => {
                let word = self.run(true)?;
                Ok(if set { value.unwrap_or_default() } else { word })
            }
            '+' => {
                let word = self.run(true)?;
                Ok(if set { word } else { String::new() })
            }
            '?' => {
                let word = self.run(true)?;
                if set {
                    Ok(value.unwrap_or_default())
                } else {
                    let msg = if word.is_empty() {
                        "is not allowed to be unset".to_string()
                    } else {
                        word
                    };
                    Err(ExpandError::Required { name, msg })
                }
            }
            _ => Err(ExpandError::BadSubstitution(self.src.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(n: &str) -> Option<String> {
        match n {
            "A" => Some("a".into()),
            "E" => Some(String::new()),
            "SP" => Some("x y".into()),
            _ => None,
        }
    }

    fn x(w: &str) -> String {
        expand_word(w, '\\', &env).unwrap()
    }

    #[test]
    fn plain_and_braced_variables() {
        assert_eq!(x("$A"), "a");
        assert_eq!(x("${A}b"), "ab");
        assert_eq!(x("$Ab"), "");
        assert_eq!(x("$U-x"), "-x");
        assert_eq!(x("a$"), "a$");
        assert_eq!(x("$1"), "");
    }

    #[test]
    fn default_and_alternative_rules() {
        assert_eq!(x("${U:-d}"), "d");
        assert_eq!(x("${E:-d}"), "d");
        assert_eq!(x("${E-d}"), "");
        assert_eq!(x("${U-d}"), "d");
        assert_eq!(x("${A:-d}"), "a");
        assert_eq!(x("${A:+alt}"), "alt");
        assert_eq!(x("${E:+alt}"), "");
        assert_eq!(x("${E+alt}"), "alt");
        assert_eq!(x("${U+alt}"), "");
        assert_eq!(x("${U:-${A}x}"), "ax");
        assert_eq!(x("${U:-'q $A'}"), "q $A");
    }

    #[test]
    fn required_and_bad_substitutions() {
        assert_eq!(
            expand_word("${U:?needs U}", '\\', &env),
            Err(ExpandError::Required {
                name: "U".into(),
                msg: "needs U".into()
            })
        );
        assert!(matches!(
            expand_word("${A", '\\', &env),
            Err(ExpandError::MissingBrace(_))
        ));
        assert!(matches!(
            expand_word("${}", '\\', &env),
            Err(ExpandError::BadSubstitution(_))
        ));
        assert!(matches!(
            expand_word("${A*x}", '\\', &env),
            Err(ExpandError::BadSubstitution(_))
        ));
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(x(r"\$A"), "$A");
        assert_eq!(x("'$A'"), "$A");
        assert_eq!(x("\"$A b\""), "a b");
        assert_eq!(x(r#""\"\$A\\ \n""#), r#""$A\ \n"#);
        assert_eq!(x(r"a\ b"), "a b");
        assert_eq!(expand_word("`$A", '`', &env).unwrap(), "$A");
        assert!(matches!(
            expand_word("'abc", '\\', &env),
            Err(ExpandError::UnterminatedQuote(_))
        ));
    }

    #[test]
    fn words_split_at_unquoted_space_only() {
        assert_eq!(
            split_words(r#"a "b c" 'd e'  f\ g"#, '\\'),
            vec!["a", "\"b c\"", "'d e'", r"f\ g"]
        );
        assert_eq!(
            expand_words(r#"K="v w" L=$SP"#, '\\', &env).unwrap(),
            vec!["K=v w", "L=x y"]
        );
    }

    #[test]
    fn heredoc_text_expands_dollars_only() {
        assert_eq!(
            expand_text("'$A' \"${U:-d}\" \\$A\n", '\\', &env).unwrap(),
            "'a' \"d\" $A\n"
        );
    }
}
