// AWS's managed CloudFront cache policies and origin request policies, under the names AWS's API
// gives them (ListCachePolicies / ListOriginRequestPolicies) and with the settings AWS documents.
// The loader appends them to Model::cache_policies / origin_request_policies (managed = true) after
// the declared ones. `comment` holds a short description of our own, not necessarily AWS's text.
// Pure data built on each call; any thread.
#pragma once

#include <string_view>
#include <vector>

#include "config/model.h"

namespace portico::config {

// Managed-CachingOptimized, Managed-CachingOptimizedForUncompressedObjects,
// Managed-CachingDisabled, UseOriginCacheControlHeaders, UseOriginCacheControlHeaders-QueryStrings,
// Managed-Amplify and Managed-Elemental-MediaPackage, in that order.
std::vector<CachePolicy> managed_cache_policies();

// Managed-AllViewer, Managed-AllViewerAndCloudFrontHeaders-2022-06,
// Managed-AllViewerExceptHostHeader, Managed-CORS-CustomOrigin, Managed-CORS-S3Origin,
// Managed-Elemental-MediaTailor-PersonalizedManifests, Managed-HostHeaderOnly and
// Managed-UserAgentRefererHeaders, in that order.
std::vector<OriginRequestPolicy> managed_origin_request_policies();

// AWS names two managed cache policies without the "Managed-" prefix the others carry. Returns
// AWS's name when `name` is the prefixed spelling of one of them
// ("Managed-UseOriginCacheControlHeaders" -> "UseOriginCacheControlHeaders"), else "".
std::string_view managed_cache_policy_alias(std::string_view name);

// True for the names managed_cache_policies() uses.
bool is_managed_cache_policy_name(std::string_view name);

}  // namespace portico::config
