using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Archestra.Runtime.Protocol;

namespace Archestra.Gateway.Mcp;

/// <summary>What a session id carries: enough to rebuild the session on any replica that has the key.</summary>
internal readonly record struct SessionClaims(string Profile, string ProtocolVersion, ClientCapabilities Capabilities, DateTimeOffset IssuedAt);

/// <summary>
/// Session ids are <c>base64url(claims) "." base64url(HMAC-SHA256(key, claims)[..16])</c>: visible ASCII as
/// the spec requires, unguessable (the claims hold 128 random bits), and verifiable without shared state,
/// so a replica that never saw the session, or a restarted gateway, can resume it (DESIGN.md, "Scaling out").
/// </summary>
internal sealed class SessionIds
{
    private const byte Format = 1;
    private const int MacBytes = 16;
    private readonly byte[] _key;

    public SessionIds(byte[] key)
    {
        _key = key;
    }

    public string Issue(SessionClaims claims)
    {
        var profile = Encoding.UTF8.GetBytes(claims.Profile);
        var payload = new byte[1 + 1 + 1 + 8 + 16 + profile.Length];
        payload[0] = Format;
        payload[1] = (byte)Array.IndexOf(McpRevisions.Legacy, claims.ProtocolVersion);
        payload[2] = (byte)((claims.Capabilities.Sampling ? 1 : 0) | (claims.Capabilities.Elicitation ? 2 : 0) | (claims.Capabilities.Roots ? 4 : 0));
        BinaryPrimitives.WriteInt64BigEndian(payload.AsSpan(3), claims.IssuedAt.ToUnixTimeSeconds());
        RandomNumberGenerator.Fill(payload.AsSpan(11, 16));
        profile.CopyTo(payload.AsSpan(27));

        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(_key, payload, mac);
        return Base64Url.EncodeToString(payload) + "." + Base64Url.EncodeToString(mac[..MacBytes]);
    }

    /// <summary>The claims of an id this key signed; false for anything else (never throws for bad input).</summary>
    public bool TryRead(string id, out SessionClaims claims)
    {
        claims = default;
        var dot = id.IndexOf('.');
        if (dot <= 0 || id.Length > 512)
        {
            return false;
        }

        Span<byte> payload = stackalloc byte[384];
        Span<byte> mac = stackalloc byte[MacBytes + 2];
        if (
            Base64Url.DecodeFromChars(id.AsSpan(0, dot), payload, out _, out var payloadLength) != System.Buffers.OperationStatus.Done
            || Base64Url.DecodeFromChars(id.AsSpan(dot + 1), mac, out _, out var macLength) != System.Buffers.OperationStatus.Done
            || macLength != MacBytes
            || payloadLength < 28
        )
        {
            return false;
        }

        payload = payload[..payloadLength];
        Span<byte> expected = stackalloc byte[32];
        HMACSHA256.HashData(_key, payload, expected);
        if (!CryptographicOperations.FixedTimeEquals(expected[..MacBytes], mac[..MacBytes]) || payload[0] != Format || payload[1] >= McpRevisions.Legacy.Length)
        {
            return false;
        }

        var caps = payload[2];
        claims = new SessionClaims(
            Encoding.UTF8.GetString(payload[27..]),
            McpRevisions.Legacy[payload[1]],
            new ClientCapabilities((caps & 1) != 0, (caps & 2) != 0, (caps & 4) != 0),
            DateTimeOffset.FromUnixTimeSeconds(BinaryPrimitives.ReadInt64BigEndian(payload[3..]))
        );
        return true;
    }

    // Approval states share the key but not the format byte, so neither kind of token can pass for the other.
    private const byte ApprovalFormat = 0xA1;

    /// <summary>
    /// A tamper-proof MCP 2026-07-28 <c>requestState</c> for one approval: <paramref name="call"/> (a digest of profile, tool
    /// and arguments) and an expiry, MACed with the session key, so any replica with the key can verify it.
    /// </summary>
    public string SealApproval(ReadOnlySpan<byte> call, DateTimeOffset expires)
    {
        Span<byte> payload = stackalloc byte[1 + 8 + 32];
        payload[0] = ApprovalFormat;
        BinaryPrimitives.WriteInt64BigEndian(payload[1..], expires.ToUnixTimeSeconds());
        call[..32].CopyTo(payload[9..]);
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(_key, payload, mac);
        return Base64Url.EncodeToString(payload) + "." + Base64Url.EncodeToString(mac[..MacBytes]);
    }

    /// <summary>True when <paramref name="state"/> was sealed by this key for exactly <paramref name="call"/> and has not expired.</summary>
    public bool OpenApproval(string state, ReadOnlySpan<byte> call, DateTimeOffset now)
    {
        var dot = state.IndexOf('.');
        if (dot <= 0 || state.Length > 256)
        {
            return false;
        }

        Span<byte> payload = stackalloc byte[64];
        Span<byte> mac = stackalloc byte[MacBytes + 2];
        if (
            Base64Url.DecodeFromChars(state.AsSpan(0, dot), payload, out _, out var payloadLength) != System.Buffers.OperationStatus.Done
            || Base64Url.DecodeFromChars(state.AsSpan(dot + 1), mac, out _, out var macLength) != System.Buffers.OperationStatus.Done
            || macLength != MacBytes
            || payloadLength != 41
        )
        {
            return false;
        }

        payload = payload[..payloadLength];
        Span<byte> expected = stackalloc byte[32];
        HMACSHA256.HashData(_key, payload, expected);
        return CryptographicOperations.FixedTimeEquals(expected[..MacBytes], mac[..MacBytes])
            && payload[0] == ApprovalFormat
            && BinaryPrimitives.ReadInt64BigEndian(payload[1..]) >= now.ToUnixTimeSeconds()
            && CryptographicOperations.FixedTimeEquals(payload[9..], call[..32]);
    }
}
