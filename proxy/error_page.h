// Responses Portico generates itself (errors, admin): CloudFront-style HTML error bodies
// ("ERROR: The request could not be satisfied"). Pure formatting; any thread.
#pragma once

#include <string>
#include <string_view>

namespace portico::proxy {

// HTML body CloudFront shows for `status` with a one-line explanation.
std::string error_page_html(int status, std::string_view explanation, std::string_view request_id);

}  // namespace portico::proxy
