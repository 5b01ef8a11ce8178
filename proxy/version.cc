// placeholder until the proxy runtime lands
namespace portico::proxy { const char* version() { return "0.1.0"; } }
