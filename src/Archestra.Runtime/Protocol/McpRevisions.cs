namespace Archestra.Runtime.Protocol;

/// <summary>The two eras of MCP revisions (2026-07-28 basic/versioning, "Terminology").</summary>
public enum McpEra : byte
{
    /// <summary>A session opened with the <c>initialize</c> handshake (2025-11-25 and earlier).</summary>
    Legacy,

    /// <summary>Every request carries its revision, client info and capabilities in <c>_meta</c> (2026-07-28 and later).</summary>
    Modern,
}

/// <summary>The protocol revisions the gateway speaks, on both sides, with the era each belongs to.</summary>
public static class McpRevisions
{
    /// <summary>The newest modern revision: what the gateway asks of modern servers and answers modern clients with.</summary>
    public const string LatestModern = "2026-07-28";

    /// <summary>The newest legacy revision: what <c>initialize</c> negotiates when the client asks for one the gateway does not know.</summary>
    public const string LatestLegacy = "2025-11-25";

    /// <summary>
    /// Legacy revisions the gateway negotiates, newest first; 2024-11-05 is accepted for old clients. The order is
    /// persisted: a signed session id stores the index into this list (Gateway Mcp/SessionIds), so only append.
    /// </summary>
    public static readonly string[] Legacy = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

    /// <summary>Modern revisions the gateway serves statelessly, newest first.</summary>
    public static readonly string[] Modern = [LatestModern];

    /// <summary>Every revision, modern first: the <c>supported</c> list of an UnsupportedProtocolVersionError and of server/discover.</summary>
    public static readonly string[] All = [.. Modern, .. Legacy];

    /// <summary>
    /// The revision assumed when a legacy request carries no MCP-Protocol-Version header: the spec (2025-06-18,
    /// "Protocol Version Header") says servers SHOULD assume 2025-03-26 for backwards compatibility.
    /// </summary>
    public const string DefaultWhenHeaderMissing = "2025-03-26";

    public static bool IsLegacy(string? version) => Contains(Legacy, version);

    public static bool IsModern(string? version) => Contains(Modern, version);

    public static bool IsModern(ReadOnlySpan<char> version)
    {
        foreach (var v in Modern)
        {
            if (version.SequenceEqual(v))
            {
                return true;
            }
        }

        return false;
    }

    public static bool IsModern(ReadOnlySpan<byte> version)
    {
        foreach (var v in Modern)
        {
            if (version.Length == v.Length && System.Text.Ascii.Equals(version, v))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The legacy revision <c>initialize</c> answers with: the requested one when supported, else the newest.</summary>
    public static string NegotiateLegacy(string? requested) => IsLegacy(requested) ? requested! : LatestLegacy;

    private static bool Contains(string[] list, string? version)
    {
        if (version is null)
        {
            return false;
        }

        foreach (var v in list)
        {
            if (v == version)
            {
                return true;
            }
        }

        return false;
    }
}
