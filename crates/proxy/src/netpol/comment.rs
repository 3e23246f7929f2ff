//! The text of a rule comment, as both renderings write it.

/// A rule comment's text: without double quotes (both tools quote with
/// them) and cut to `max` bytes on a character boundary (both tools
/// refuse longer ones).
pub(super) fn comment_text(text: &str, max: usize) -> String {
    let mut t: String = text.chars().filter(|c| *c != '"').collect();
    if t.len() > max {
        let mut end = max;
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        t.truncate(end);
    }
    t
}
