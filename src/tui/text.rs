//! A line of text being typed (search, export path, picker), with a cursor and the
//! editing keys of a shell: ←/→, Home/End (Ctrl-A/E), Backspace/Delete, Ctrl-U (to the
//! start), Ctrl-W (the word before).

/// One editing step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    Insert(char),
    Backspace,
    Delete,
    Left,
    Right,
    Home,
    End,
    /// Ctrl-U: delete everything before the cursor.
    ClearBefore,
    /// Ctrl-W: delete the word before the cursor (and the spaces after it).
    DeleteWord,
}

/// Text with a cursor, counted in characters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TextField {
    text: String,
    cursor: usize,
}

impl TextField {
    /// `text` with the cursor at its end.
    pub fn new(text: impl Into<String>) -> TextField {
        let text = text.into();
        let cursor = text.chars().count();
        TextField { text, cursor }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    fn byte(&self, char_at: usize) -> usize {
        self.text
            .char_indices()
            .nth(char_at)
            .map_or(self.text.len(), |(b, _)| b)
    }

    /// Apply one step; true when the text changed (not only the cursor).
    pub fn edit(&mut self, e: Edit) -> bool {
        let len = self.text.chars().count();
        match e {
            Edit::Insert(c) => {
                let at = self.byte(self.cursor);
                self.text.insert(at, c);
                self.cursor += 1;
                true
            }
            Edit::Backspace if self.cursor > 0 => {
                let at = self.byte(self.cursor - 1);
                self.text.remove(at);
                self.cursor -= 1;
                true
            }
            Edit::Delete if self.cursor < len => {
                let at = self.byte(self.cursor);
                self.text.remove(at);
                true
            }
            Edit::Left => {
                self.cursor = self.cursor.saturating_sub(1);
                false
            }
            Edit::Right => {
                self.cursor = (self.cursor + 1).min(len);
                false
            }
            Edit::Home => {
                self.cursor = 0;
                false
            }
            Edit::End => {
                self.cursor = len;
                false
            }
            Edit::ClearBefore if self.cursor > 0 => {
                let at = self.byte(self.cursor);
                self.text.replace_range(..at, "");
                self.cursor = 0;
                true
            }
            Edit::DeleteWord if self.cursor > 0 => {
                let chars: Vec<char> = self.text.chars().collect();
                let mut start = self.cursor;
                while start > 0 && chars[start - 1].is_whitespace() {
                    start -= 1;
                }
                while start > 0
                    && !chars[start - 1].is_whitespace()
                    && !is_separator(chars[start - 1])
                {
                    start -= 1;
                }
                if start == self.cursor {
                    // Only a separator before the cursor: take it.
                    start -= 1;
                }
                let (from, to) = (self.byte(start), self.byte(self.cursor));
                self.text.replace_range(from..to, "");
                self.cursor = start;
                true
            }
            _ => false,
        }
    }

    /// The text split at the cursor, for drawing the cursor between the halves.
    pub fn split(&self) -> (&str, &str) {
        self.text.split_at(self.byte(self.cursor))
    }

    /// The text with a bar where the cursor is.
    pub fn with_cursor(&self) -> String {
        let (a, b) = self.split();
        format!("{a}▏{b}")
    }
}

/// Ctrl-W stops at path separators too: "~/exports/file.csv" loses "file.csv" first.
fn is_separator(c: char) -> bool {
    matches!(c, '/' | '\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(s: &str) -> TextField {
        TextField::new(s)
    }

    #[test]
    fn the_cursor_moves_and_text_goes_in_where_it_is() {
        let mut t = typed("acme");
        t.edit(Edit::Home);
        t.edit(Edit::Insert('X'));
        assert_eq!((t.as_str(), t.cursor()), ("Xacme", 1));
        t.edit(Edit::End);
        t.edit(Edit::Left);
        t.edit(Edit::Backspace);
        assert_eq!(t.as_str(), "Xace");
        t.edit(Edit::Delete);
        assert_eq!((t.as_str(), t.cursor()), ("Xac", 3));
        assert!(!t.edit(Edit::Delete), "nothing after the cursor");
        assert_eq!(t.with_cursor(), "Xac▏");
    }

    #[test]
    fn ctrl_u_and_ctrl_w_delete_like_a_shell() {
        let mut t = typed("/home/dana/exports/book.csv");
        t.edit(Edit::DeleteWord);
        assert_eq!(t.as_str(), "/home/dana/exports/");
        t.edit(Edit::DeleteWord);
        assert_eq!(t.as_str(), "/home/dana/exports");
        let mut t = typed("north  wind");
        t.edit(Edit::DeleteWord);
        assert_eq!(t.as_str(), "north  ");
        t.edit(Edit::DeleteWord);
        assert_eq!(t.as_str(), "");
        let mut t = typed("Ümlaut café");
        t.edit(Edit::Left);
        t.edit(Edit::Left);
        t.edit(Edit::ClearBefore);
        assert_eq!((t.as_str(), t.cursor()), ("fé", 0));
    }
}
