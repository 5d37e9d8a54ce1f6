//! OpenAPI links from the operations that create a resource to the operations on it
//! (`POST /v1/subscriptions` → `GET /v1/subscriptions/{id}` and the rest), so a client
//! generator, and schemathesis's stateful phase, can follow a created id rather than
//! guess one.

use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::{OpenApi, RefOr};

/// A collection, the path parameter that names one of its items, and the field of the
/// creation's answer that holds it.
const RESOURCES: [(&str, &str, &str); 2] = [
    ("/v1/orders", "order_id", "order_id"),
    ("/v1/subscriptions", "id", "id"),
];

pub struct ResourceLinks;

impl utoipa::Modify for ResourceLinks {
    fn modify(&self, openapi: &mut OpenApi) {
        for (collection, param, field) in RESOURCES {
            let prefix = format!("{collection}/{{{param}}}");
            // The operations on an item (and under it), by operation id.
            let mut targets: Vec<String> = Vec::new();
            for (path, item) in &openapi.paths.paths {
                if path != &prefix && !path.starts_with(&format!("{prefix}/")) {
                    continue;
                }
                let ops = [&item.get, &item.post, &item.put, &item.delete, &item.patch];
                targets.extend(
                    ops.into_iter()
                        .flatten()
                        .filter_map(|op: &Operation| op.operation_id.clone()),
                );
            }
            let Some(create) = openapi
                .paths
                .paths
                .get_mut(collection)
                .and_then(|i| i.post.as_mut())
            else {
                continue;
            };
            for status in ["200", "201"] {
                let Some(RefOr::T(answer)) = create.responses.responses.get_mut(status) else {
                    continue;
                };
                for target in &targets {
                    // utoipa 5 writes `operation_id` in snake case, which no reader of
                    // OpenAPI knows: the name goes in as `operationId` through the
                    // link's (flattened) extensions instead.
                    let mut named = Extensions::default();
                    named.insert("operationId".into(), target.clone().into());
                    let link = LinkBuilder::new()
                        .parameter(param, format!("$response.body#/{field}"))
                        .extensions(Some(named))
                        .build();
                    answer.links.insert(target.clone(), RefOr::T(link));
                }
            }
        }
    }
}
