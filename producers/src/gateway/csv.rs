//! A strict reader of RFC 4180 CSV (the product import, rules IV1): comma-separated fields,
//! double-quoted fields that may hold commas, quotes (`""`) and line breaks, CRLF or LF line ends,
//! a UTF-8 byte-order mark ignored. Small enough to own, so every error names the line it is on.

/// One record's fields and the line it starts on (the header is line 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvRecord {
    pub line: usize,
    pub fields: Vec<String>,
}

/// Why a file is not CSV.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    /// A quoted field never closed.
    #[error("line {0}: a quoted field is not closed")]
    Unclosed(usize),
    /// Text right after a closing quote.
    #[error("line {0}: a quoted field must end at a comma or the end of the line")]
    AfterQuote(usize),
}

/// Every record of `text`; blank lines are skipped.
pub fn records(text: &str) -> Result<Vec<CsvRecord>, CsvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while chars.peek().is_some() {
        let start = line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        loop {
            match chars.next() {
                None => {
                    fields.push(std::mem::take(&mut field));
                    break;
                }
                Some('"') if field.is_empty() && !quoted => {
                    quoted = true;
                    loop {
                        match chars.next() {
                            None => return Err(CsvError::Unclosed(start)),
                            Some('"') if chars.peek() == Some(&'"') => {
                                chars.next();
                                field.push('"');
                            }
                            Some('"') => break,
                            Some(c) => {
                                if c == '\n' {
                                    line += 1;
                                }
                                field.push(c);
                            }
                        }
                    }
                    if !matches!(chars.peek(), None | Some(',' | '\r' | '\n')) {
                        return Err(CsvError::AfterQuote(line));
                    }
                }
                Some(',') => {
                    fields.push(std::mem::take(&mut field));
                    quoted = false;
                }
                Some('\r') if chars.peek() == Some(&'\n') => {}
                Some('\n') => {
                    line += 1;
                    fields.push(std::mem::take(&mut field));
                    break;
                }
                Some(c) => field.push(c),
            }
        }
        if !(fields.len() == 1 && fields[0].trim().is_empty()) {
            out.push(CsvRecord { line: start, fields });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_hold_commas_quotes_and_line_breaks() {
        let text = "\u{feff}name,price,stock\r\n\"Shirt, linen\",29.99,5\r\n\n\"Say \"\"hi\"\"\",\"1\n2\",3\nlast,1,";
        let r = records(text).unwrap();
        assert_eq!(r.len(), 4);
        assert_eq!(r[1], CsvRecord { line: 2, fields: vec!["Shirt, linen".into(), "29.99".into(), "5".into()] });
        assert_eq!(r[2].fields, ["Say \"hi\"", "1\n2", "3"]);
        assert_eq!((r[2].line, r[3].line), (4, 6));
        assert_eq!(r[3].fields, ["last", "1", ""]);
    }

    #[test]
    fn broken_quotes_name_their_line() {
        assert_eq!(records("a\n\"open,1"), Err(CsvError::Unclosed(2)));
        assert_eq!(records("a\n\"x\"y,1"), Err(CsvError::AfterQuote(2)));
    }
}
