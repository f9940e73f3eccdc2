// as-headers: an AssemblyScript (@solo-io/proxy-runtime 0.1.8) plugin that reads its configuration
// and the request :path, logs, and adds request and response headers.
export * from "@solo-io/proxy-runtime/proxy";
import {
  RootContext, Context, registerRootContext, FilterHeadersStatusValues, stream_context, log, LogLevelValues,
} from "@solo-io/proxy-runtime";
import { get_buffer_bytes, BufferTypeValues } from "@solo-io/proxy-runtime/runtime";
import { Settings, parseSettings } from "./settings";

class HeadersRoot extends RootContext {
  settings: Settings = new Settings();

  // Replaces the runtime's onConfigure, which traps on an empty configuration and passes the
  // configuration size where the host expects a size out-pointer.
  onConfigure(configurationSize: u32): bool {
    let text = "";
    if (configurationSize > 0) {
      text = String.UTF8.decode(get_buffer_bytes(BufferTypeValues.PluginConfiguration, 0, configurationSize));
    }
    const parsed = parseSettings(text);
    if (parsed === null) {
      log(LogLevelValues.error, "as-headers: configuration must be a JSON object");
      return false;
    }
    this.settings = parsed;
    log(LogLevelValues.info, "as-headers: configured " + parsed.headerName + "=" + parsed.headerValue);
    return true;
  }

  createContext(contextId: u32): Context {
    return new HeadersStream(contextId, this);
  }
}

class HeadersStream extends Context {
  settings: Settings;
  path: string = "";

  constructor(contextId: u32, root: HeadersRoot) {
    super(contextId, root);
    this.settings = root.settings;
  }

  onRequestHeaders(numHeaders: u32, endOfStream: bool): FilterHeadersStatusValues {
    this.path = stream_context.headers.request.get(":path");
    log(LogLevelValues.info, "as-headers: path=" + this.path);
    stream_context.headers.request.add(this.settings.headerName, this.settings.headerValue);
    stream_context.headers.request.add("x-as-path", this.path);
    return FilterHeadersStatusValues.Continue;
  }

  onResponseHeaders(numHeaders: u32, endOfStream: bool): FilterHeadersStatusValues {
    stream_context.headers.response.add(this.settings.responseHeaderName, this.settings.responseHeaderValue);
    stream_context.headers.response.add("x-as-request-path", this.path);
    return FilterHeadersStatusValues.Continue;
  }
}

function newRoot(contextId: u32): RootContext {
  return new HeadersRoot(contextId);
}

// The runtime picks the factory by the plugin_root_id property: Istio passes spec.pluginName,
// empty when unset, so both names are registered.
registerRootContext(newRoot, "as-headers");
registerRootContext(newRoot, "");
