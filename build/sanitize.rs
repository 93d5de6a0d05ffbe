//! Sanitizer mode's rewrite of the kernel sources (feature `sanitize`).
//!
//! build.rs compiles a rewritten copy of each kernel file (and of the prelude)
//! as host C++, never the nvcc or NVRTC build:
//! - every pointer to an element type (`float`, `int`, the other built-in
//!   arithmetic types, `gi_bf16`, `gi_f16` and template type parameters), with
//!   or without `const`, becomes `::gi::ptr<T>`, the checked pointer of
//!   `kernels/interpret/sanitize.hpp` (also after commas: `float *a, *b`);
//! - `reinterpret_cast` and `const_cast` to such a pointer become `static_cast` (the checked
//!   pointer converts explicitly);
//! - `__shared__ T name[N];` and `__shared__ T name;` become a per-block array
//!   of the runtime (`::gi::static_shared`), checked like the rest.
//!
//! Line breaks are kept and the copy starts with a `#line` directive, so the
//! compiler and the sanitizer name the original file and line. Preprocessor
//! lines, comments and literals are left alone. What the rewrite cannot handle
//! is an error that names the line (or fails to compile, loudly).

/// Kinds of tokens.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Ident,
    Number,
    Punct,
    Space,
    Comment,
    Literal,
    Directive,
}

/// A token: its kind and text.
#[derive(Clone, Copy, Debug)]
struct Tok<'a> {
    kind: Kind,
    text: &'a str,
}

/// The built-in type keywords that make up an arithmetic element type.
const BUILTIN: &[&str] = &[
    "float", "double", "int", "unsigned", "signed", "short", "long", "char", "bool",
];

/// The prelude's storage types.
const NAMED: &[&str] = &["gi_bf16", "gi_f16"];

fn lex(src: &str) -> Vec<Tok<'_>> {
    let b = src.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    let mut line_start = true;
    while i < b.len() {
        let start = i;
        let c = b[i];
        let kind = if c == b'\n' || c == b' ' || c == b'\t' || c == b'\r' {
            while i < b.len() && matches!(b[i], b'\n' | b' ' | b'\t' | b'\r') {
                if b[i] == b'\n' {
                    line_start = true;
                }
                i += 1;
            }
            toks.push(Tok {
                kind: Kind::Space,
                text: &src[start..i],
            });
            continue;
        } else if c == b'#' && line_start {
            // To the end of the line, with backslash continuations.
            while i < b.len() && b[i] != b'\n' {
                if b[i] == b'\\' && i + 1 < b.len() && b[i + 1] == b'\n' {
                    i += 1;
                }
                i += 1;
            }
            Kind::Directive
        } else if src[i..].starts_with("//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            Kind::Comment
        } else if src[i..].starts_with("/*") {
            i = src[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
            Kind::Comment
        } else if c == b'"' || c == b'\'' {
            i += 1;
            while i < b.len() && b[i] != c {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i = (i + 1).min(b.len());
            Kind::Literal
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            Kind::Ident
        } else if c.is_ascii_digit() {
            let hex = src[start..].starts_with("0x") || src[start..].starts_with("0X");
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                // An exponent's sign: 1e-5, 0x1p+3.
                let exponent = if hex {
                    matches!(b[i], b'p' | b'P')
                } else {
                    matches!(b[i], b'e' | b'E')
                };
                if exponent && i + 1 < b.len() && matches!(b[i + 1], b'+' | b'-') {
                    i += 1;
                }
                i += 1;
            }
            Kind::Number
        } else if src[i..].starts_with("::") {
            i += 2;
            Kind::Punct
        } else {
            // One character (of any width).
            i += src[i..].chars().next().map_or(1, char::len_utf8);
            Kind::Punct
        };
        line_start = false;
        toks.push(Tok {
            kind,
            text: &src[start..i],
        });
    }
    toks
}

/// The next token at or after `i` that is neither space nor comment.
fn sig(toks: &[Tok<'_>], mut i: usize) -> Option<usize> {
    while i < toks.len() {
        if !matches!(toks[i].kind, Kind::Space | Kind::Comment) {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn is(toks: &[Tok<'_>], i: Option<usize>, text: &str) -> bool {
    i.is_some_and(|i| toks[i].text == text && toks[i].kind != Kind::Literal)
}

/// The names of the template type parameters anywhere in the file.
fn template_params(toks: &[Tok<'_>]) -> Vec<String> {
    let mut names = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if toks[i].kind == Kind::Ident
            && toks[i].text == "template"
            && is(toks, sig(toks, i + 1), "<")
        {
            let mut j = sig(toks, i + 1).map_or(toks.len(), |j| j + 1);
            while let Some(k) = sig(toks, j) {
                if toks[k].text == ">" {
                    break;
                }
                if matches!(toks[k].text, "typename" | "class") {
                    if let Some(n) = sig(toks, k + 1).filter(|&n| toks[n].kind == Kind::Ident) {
                        names.push(toks[n].text.to_string());
                    }
                }
                j = k + 1;
            }
            i = j;
        }
        i += 1;
    }
    names
}

/// A pointer-to-element type starting at `i`: the index of its `*` and the pointee
/// type's text (`const float`).
fn pointer_type(toks: &[Tok<'_>], i: usize, named: &[String]) -> Option<(usize, String)> {
    let mut words: Vec<&str> = Vec::new();
    let mut j = Some(i);
    if is(toks, j, "const") {
        words.push("const");
        j = sig(toks, j? + 1);
    }
    let k = j?;
    if toks[k].kind != Kind::Ident {
        return None;
    }
    if BUILTIN.contains(&toks[k].text) {
        while let Some(k) =
            j.filter(|&k| toks[k].kind == Kind::Ident && BUILTIN.contains(&toks[k].text))
        {
            words.push(toks[k].text);
            j = sig(toks, k + 1);
        }
    } else if NAMED.contains(&toks[k].text) || named.iter().any(|n| n == toks[k].text) {
        words.push(toks[k].text);
        j = sig(toks, k + 1);
    } else {
        return None;
    }
    if is(toks, j, "const") {
        words.push("const");
        j = sig(toks, j? + 1);
    }
    let star = j.filter(|&s| toks[s].text == "*" && toks[s].kind == Kind::Punct)?;
    Some((star, words.join(" ")))
}

fn line_of(toks: &[Tok<'_>], i: usize) -> usize {
    1 + toks[..i]
        .iter()
        .map(|t| t.text.matches('\n').count())
        .sum::<usize>()
}

fn newlines(toks: &[Tok<'_>]) -> String {
    "\n".repeat(toks.iter().map(|t| t.text.matches('\n').count()).sum())
}

/// Rewrites `__shared__ T name[N];` (or `__shared__ T name;`) at `i`; returns the text
/// and the index after the declaration.
fn shared_decl(toks: &[Tok<'_>], i: usize) -> Result<(String, usize), String> {
    let line = line_of(toks, i);
    let unsupported = |what: &str| {
        Err(format!(
            "line {line}: {what}; sanitizer mode supports `__shared__ T name[N];` and \
             `__shared__ T name;` (dynamic shared memory: GI_DYNAMIC_SHARED)"
        ))
    };
    let mut ty: Vec<&str> = Vec::new();
    let mut j = sig(toks, i + 1);
    // The type's words, then the name: the last identifier before `[` or `;`.
    let name_at = loop {
        let Some(k) = j else {
            return unsupported("an unterminated __shared__ declaration");
        };
        let next = sig(toks, k + 1);
        if toks[k].kind == Kind::Ident && (is(toks, next, "[") || is(toks, next, ";")) {
            break k;
        }
        if toks[k].kind != Kind::Ident && toks[k].text != "::" {
            return unsupported(&format!("`{}` in a __shared__ declaration", toks[k].text));
        }
        ty.push(toks[k].text);
        j = next;
    };
    if ty.is_empty() {
        return unsupported("a __shared__ declaration without a type");
    }
    let name = toks[name_at].text;
    let ty = ty.join(" ");
    let mut k = sig(toks, name_at + 1).unwrap_or(toks.len());
    let count = if toks[k].text == "[" {
        let open = k;
        let mut depth = 0;
        loop {
            if k >= toks.len() {
                return unsupported("an unterminated array size");
            }
            match toks[k].text {
                "[" => depth += 1,
                "]" => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            k += 1;
        }
        let expr: String = toks[open + 1..k].iter().map(|t| t.text).collect();
        k = sig(toks, k + 1).unwrap_or(toks.len());
        Some(expr)
    } else {
        None
    };
    if k >= toks.len() || toks[k].text != ";" {
        return unsupported("a multi-dimensional or initialised __shared__ array");
    }
    let tag = format!("static const char gi_shared_tag_{name} = 0;");
    let text = match count {
        Some(n) => format!(
            "{tag} ::gi::ptr<{ty}> {name} = ::gi::static_shared<{ty}>(&gi_shared_tag_{name}, ({n}), \"{name}\");"
        ),
        None => format!(
            "{tag} ::gi::ref<{ty}> {name} = ::gi::static_shared<{ty}>(&gi_shared_tag_{name}, 1, \"{name}\")[0];"
        ),
    };
    Ok((text + &newlines(&toks[i..=k]), k + 1))
}

/// The sanitize build's copy of a kernel source; `origin` is the original file's path
/// (for the `#line` directive).
pub fn rewrite(src: &str, origin: &str) -> Result<String, String> {
    let toks = lex(src);
    let named = template_params(&toks);
    let mut out = format!("#line 1 {origin:?}\n");
    let mut drop_star = vec![false; toks.len()];
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        if t.kind != Kind::Ident {
            if !drop_star[i] {
                out.push_str(t.text);
            }
            i += 1;
            continue;
        }
        if t.text == "__shared__" {
            if let Some(p) = toks[..i]
                .iter()
                .rposition(|t| !matches!(t.kind, Kind::Space | Kind::Comment))
                .filter(|&p| toks[p].text == "extern")
            {
                return Err(format!(
                    "line {}: `extern __shared__` is not supported; use GI_DYNAMIC_SHARED",
                    line_of(&toks, p)
                ));
            }
            let (text, next) = shared_decl(&toks, i)?;
            out.push_str(&text);
            i = next;
            continue;
        }
        if t.text == "reinterpret_cast" || t.text == "const_cast" {
            let open = sig(&toks, i + 1);
            if is(&toks, open, "<")
                && open
                    .and_then(|o| sig(&toks, o + 1))
                    .and_then(|s| pointer_type(&toks, s, &named))
                    .is_some()
            {
                out.push_str("static_cast");
                i += 1;
                continue;
            }
        }
        if let Some((star, pointee)) = pointer_type(&toks, i, &named) {
            out.push_str(&format!("::gi::ptr<{pointee}>"));
            out.push_str(&newlines(&toks[i..=star]));
            if toks.get(star + 1).is_some_and(|t| t.kind == Kind::Ident) {
                out.push(' ');
            }
            // `float *a, *b, *c`: the declarator list's other stars go too.
            let mut k = sig(&toks, star + 1);
            if k.is_some_and(|k| toks[k].kind == Kind::Ident) {
                loop {
                    let comma = k.and_then(|k| sig(&toks, k + 1));
                    let s = comma.and_then(|c| sig(&toks, c + 1));
                    let name = s.and_then(|s| sig(&toks, s + 1));
                    match (comma, s, name) {
                        (Some(c), Some(s), Some(n))
                            if toks[c].text == ","
                                && toks[s].text == "*"
                                && toks[n].kind == Kind::Ident =>
                        {
                            drop_star[s] = true;
                            k = Some(n);
                        }
                        _ => break,
                    }
                }
            }
            i = star + 1;
            continue;
        }
        out.push_str(t.text);
        i += 1;
    }
    Ok(out)
}
