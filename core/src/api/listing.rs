//! Node listings: property query, keyword search, types, pages of a type, vector search.

use super::error::ApiError;
use super::extract::{ApiPath, ApiQuery};
use super::{list, page_size};
use crate::embedding;
use crate::state::Scoped;
use crate::store::{Node, NodeQuery, Properties, ScoredNode};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Serialize)]
pub struct Nodes {
    nodes: Vec<Node>,
    count: usize,
}

impl From<Vec<Node>> for Nodes {
    fn from(nodes: Vec<Node>) -> Self {
        Self {
            count: nodes.len(),
            nodes,
        }
    }
}

fn parse_number(name: &str, value: &str) -> Result<usize, ApiError> {
    value
        .parse()
        .map_err(|_| ApiError::bad_request(format!("{name} must be a non-negative integer")))
}

/// `?type=a,b&limit=&offset=` plus any other parameter as a property filter. Filter values
/// are compared as strings, since a query string carries no JSON types.
pub async fn query(
    Scoped(state): Scoped,
    ApiQuery(params): ApiQuery<Vec<(String, String)>>,
) -> Result<Json<Nodes>, ApiError> {
    let mut query = NodeQuery {
        limit: page_size(None, 100),
        ..NodeQuery::default()
    };
    let mut filters = Properties::new();
    for (name, value) in params {
        match name.as_str() {
            "type" => query.node_types.extend(list(Some(&value))),
            "limit" => query.limit = page_size(Some(parse_number("limit", &value)?), 100),
            "offset" => query.offset = parse_number("offset", &value)?,
            _ => {
                if filters.insert(name.clone(), Value::String(value)).is_some() {
                    return Err(ApiError::bad_request(format!(
                        "filter {name:?} given twice"
                    )));
                }
            }
        }
    }
    query.filters = filters;
    Ok(Json(state.store.query_nodes(&query).await?.into()))
}

#[derive(Deserialize)]
pub struct SearchParams {
    q: Option<String>,
    types: Option<String>,
    limit: Option<usize>,
}

pub async fn search(
    Scoped(state): Scoped,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Json<Nodes>, ApiError> {
    let text = params
        .q
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("q is required"))?;
    let types = list(params.types.as_deref());
    let nodes = state
        .store
        .search_nodes(&text, &types, page_size(params.limit, 50))
        .await?;
    Ok(Json(nodes.into()))
}

#[derive(Serialize)]
pub struct TypeCount {
    #[serde(rename = "type")]
    node_type: String,
    count: usize,
}

#[derive(Serialize)]
pub struct Types {
    types: Vec<TypeCount>,
    total: usize,
}

pub async fn types(Scoped(state): Scoped) -> Result<Json<Types>, ApiError> {
    let types: Vec<TypeCount> = state
        .store
        .count_by_type()
        .await?
        .into_iter()
        .map(|(node_type, count)| TypeCount { node_type, count })
        .collect();
    let total = types.iter().map(|t| t.count).sum();
    Ok(Json(Types { types, total }))
}

#[derive(Deserialize)]
pub struct PageParams {
    page: Option<usize>,
    limit: Option<usize>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    page: usize,
    limit: usize,
    total: usize,
    total_pages: usize,
}

#[derive(Serialize)]
pub struct Page {
    nodes: Vec<Node>,
    pagination: Pagination,
}

/// One page of the nodes of a type, oldest first.
pub async fn of_type(
    Scoped(state): Scoped,
    ApiPath(node_type): ApiPath<String>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<Page>, ApiError> {
    let page = params.page.unwrap_or(1);
    let limit = page_size(params.limit, 20);
    let offset = page
        .checked_sub(1)
        .and_then(|p| p.checked_mul(limit))
        .ok_or_else(|| ApiError::bad_request("page must be at least 1 and not absurdly large"))?;
    let node_types = vec![node_type];
    let total = state.store.count_nodes(&node_types).await?;
    let nodes = state
        .store
        .query_nodes(&NodeQuery {
            node_types,
            filters: Properties::new(),
            limit,
            offset,
        })
        .await?;
    let pagination = Pagination {
        page,
        limit,
        total,
        total_pages: total.div_ceil(limit),
    };
    Ok(Json(Page { nodes, pagination }))
}

#[derive(Deserialize)]
pub struct VectorParams {
    query: Option<String>,
    limit: Option<usize>,
    min_similarity: Option<f32>,
    types: Option<String>,
}

#[derive(Serialize)]
pub struct VectorResults {
    query: String,
    results: Vec<ScoredNode>,
    count: usize,
}

pub async fn vector_search(
    Scoped(state): Scoped,
    ApiQuery(params): ApiQuery<VectorParams>,
) -> Result<Json<VectorResults>, ApiError> {
    let query = params
        .query
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("query is required"))?;
    // Upstream defaults: 50 results at similarity 0.75 or more.
    let min_similarity = params.min_similarity.unwrap_or(0.75);
    if !(-1.0..=1.0).contains(&min_similarity) {
        return Err(ApiError::bad_request(
            "min_similarity must be between -1 and 1",
        ));
    }
    let types = list(params.types.as_deref());
    let vector = embedding::embed(&query);
    let results = state
        .store
        .vector_search(&vector, &types, page_size(params.limit, 50), min_similarity)
        .await?;
    Ok(Json(VectorResults {
        query,
        count: results.len(),
        results,
    }))
}
