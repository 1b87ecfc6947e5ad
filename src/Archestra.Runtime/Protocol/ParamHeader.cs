namespace Archestra.Runtime.Protocol;

/// <summary>
/// One tool argument mirrored into <c>Mcp-Param-{Header}</c> (2026-07-28 transports, "Custom Headers from Tool Parameters"):
/// its top-level property and whether it is a number.
/// </summary>
public sealed record ParamHeader(string Header, byte[] Property, bool Numeric);
