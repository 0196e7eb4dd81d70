//! The stored form of an embedding: its `f32` values, little-endian, one after another.

use crate::embedding::DIMENSIONS;

pub(crate) fn encode_embedding(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// `None` for bytes of the wrong size (written by another release, or damaged).
pub(crate) fn decode_embedding(blob: &[u8]) -> Option<Vec<f32>> {
    (blob.len() == DIMENSIONS * 4).then(|| {
        blob.chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    })
}
