using System.Reflection;

namespace Archestra.Gateway;

/// <summary>The one version of the binary, as the build stamps it.</summary>
internal static class GatewayInfo
{
    /// <summary>
    /// The informational version stamped by the build, with its source revision (e.g. <c>0.1.0+3f2c1ab</c>): what <c>archestra version</c>
    /// prints.
    /// </summary>
    public static string InformationalVersion { get; } =
        typeof(GatewayInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(GatewayInfo).Assembly.GetName().Version?.ToString()
        ?? "0.0.0";

    /// <summary>The version without the source-revision suffix (e.g. <c>0.1.0</c>): MCP serverInfo, OpenAPI, /api/status, meters.</summary>
    public static string Version { get; } = InformationalVersion.Split('+')[0];
}
