//! Deterministic local text embedding (feature hashing of words and character trigrams).
//! No model download: good enough for similarity between texts that share vocabulary, and
//! identical on every machine, which keeps vector search testable.

use crate::store::Properties;
use serde_json::Value;

pub const DIMENSIONS: usize = 256;

/// FNV-1a: stable across platforms and releases, unlike `std`'s hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn add_feature(vector: &mut [f32], feature: &str, weight: f32) {
    let h = fnv1a(feature.as_bytes());
    let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
    vector[(h % DIMENSIONS as u64) as usize] += sign * weight;
}

/// Unit-length embedding of `text`; all zeros for text without any word.
pub fn embed(text: &str) -> Vec<f32> {
    let mut vector = vec![0.0; DIMENSIONS];
    let lower = text.to_lowercase();
    for word in lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        add_feature(&mut vector, word, 1.0);
        let chars: Vec<char> = format!("#{word}#").chars().collect();
        for gram in chars.windows(3) {
            add_feature(&mut vector, &gram.iter().collect::<String>(), 0.5);
        }
    }
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}

/// Cosine similarity of two unit vectors (0 when either is empty or of another size).
pub fn similarity(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The text of a node that its embedding and keyword search are computed from. The
/// classification label is left out: it is the same word on most nodes and says nothing of
/// their content.
pub fn node_text(node_type: &str, properties: &Properties) -> String {
    let mut text = String::from(node_type);
    for (key, value) in properties {
        if key == crate::governance::SENSITIVITY_KEY {
            continue;
        }
        if let Value::String(s) = value {
            text.push(' ');
            text.push_str(s);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn related_texts_are_closer_than_unrelated() {
        let a = embed("rust memory graph server");
        let b = embed("graph memory in rust");
        let c = embed("banana smoothie recipe");
        assert!(similarity(&a, &b) > similarity(&a, &c));
        assert!((similarity(&a, &a) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn empty_text_is_zero_vector() {
        assert!(embed("  ,, ").iter().all(|x| *x == 0.0));
    }
}
