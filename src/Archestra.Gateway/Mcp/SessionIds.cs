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
    private const int ApprovalBytes = 1 + 8 + 32 + 16;

    /// <summary>
    /// A tamper-proof MCP 2026-07-28 <c>requestState</c> for one approval: <paramref name="call"/> (a digest of profile, tool
    /// and arguments), an expiry and a random nonce, MACed with the session key, so any replica with the key can verify it;
    /// the nonce is what makes it answerable once (<see cref="Core.SpentStates"/>).
    /// </summary>
    public string SealApproval(ReadOnlySpan<byte> call, DateTimeOffset expires)
    {
        Span<byte> payload = stackalloc byte[ApprovalBytes];
        payload[0] = ApprovalFormat;
        BinaryPrimitives.WriteInt64BigEndian(payload[1..], expires.ToUnixTimeSeconds());
        call[..32].CopyTo(payload[9..]);
        RandomNumberGenerator.Fill(payload[41..]);
        return Seal(payload);
    }

    /// <summary>
    /// The nonce and expiry of <paramref name="state"/> when this key sealed it for exactly <paramref name="call"/> and it has
    /// not expired; false for anything else.
    /// </summary>
    public bool OpenApproval(string state, ReadOnlySpan<byte> call, DateTimeOffset now, out byte[] nonce, out DateTimeOffset expires)
    {
        Span<byte> payload = stackalloc byte[ApprovalBytes + 2];
        if (Open(state, ApprovalFormat, payload, call, now) != ApprovalBytes)
        {
            nonce = [];
            expires = default;
            return false;
        }

        nonce = payload[41..ApprovalBytes].ToArray();
        expires = DateTimeOffset.FromUnixTimeSeconds(BinaryPrimitives.ReadInt64BigEndian(payload[1..]));
        return true;
    }

    // A call waiting in one gateway process for a modern client's input: its own format byte, so it cannot pass for an approval.
    private const byte ContinuationFormat = 0xA2;
    private const int ContinuationBytes = 1 + 8 + 32 + 16 + 4;

    /// <summary>
    /// The <c>requestState</c> of a call held by one gateway process while a modern client answers its upstream's input
    /// requests: the call's digest, an expiry, the <paramref name="handle"/> the process keeps the call under and the
    /// <paramref name="round"/> of input it answers (each round's state differs, and an earlier round's can be told apart),
    /// MACed with the session key like an approval.
    /// </summary>
    public string SealContinuation(ReadOnlySpan<byte> call, ReadOnlySpan<byte> handle, int round, DateTimeOffset expires)
    {
        Span<byte> payload = stackalloc byte[ContinuationBytes];
        payload[0] = ContinuationFormat;
        BinaryPrimitives.WriteInt64BigEndian(payload[1..], expires.ToUnixTimeSeconds());
        call[..32].CopyTo(payload[9..]);
        handle[..16].CopyTo(payload[41..]);
        BinaryPrimitives.WriteInt32BigEndian(payload[57..], round);
        return Seal(payload);
    }

    /// <summary>The handle and round of a continuation state sealed by this key for exactly <paramref name="call"/>; null for anything else.</summary>
    public (byte[] Handle, int Round)? OpenContinuation(string state, ReadOnlySpan<byte> call, DateTimeOffset now)
    {
        Span<byte> payload = stackalloc byte[ContinuationBytes + 2];
        return Open(state, ContinuationFormat, payload, call, now) == ContinuationBytes
            ? (payload[41..57].ToArray(), BinaryPrimitives.ReadInt32BigEndian(payload[57..]))
            : null;
    }

    /// <summary>Whether <paramref name="state"/> is shaped like a continuation (its MAC unchecked): to tell a client which state it sent.</summary>
    public static bool LooksLikeContinuation(string state)
    {
        var dot = state.IndexOf('.');
        Span<byte> payload = stackalloc byte[ContinuationBytes + 2];
        return dot > 0
            && state.Length <= 256
            && Base64Url.DecodeFromChars(state.AsSpan(0, dot), payload, out _, out var length) == System.Buffers.OperationStatus.Done
            && length == ContinuationBytes
            && payload[0] == ContinuationFormat;
    }

    private string Seal(ReadOnlySpan<byte> payload)
    {
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(_key, payload, mac);
        return Base64Url.EncodeToString(payload) + "." + Base64Url.EncodeToString(mac[..MacBytes]);
    }

    /// <summary>
    /// The payload length of a state of <paramref name="format"/> that this key sealed for <paramref name="call"/> and that has not
    /// expired, decoded into <paramref name="payload"/>; 0 for anything else (never throws for bad input).
    /// </summary>
    private int Open(string state, byte format, Span<byte> payload, ReadOnlySpan<byte> call, DateTimeOffset now)
    {
        var dot = state.IndexOf('.');
        if (dot <= 0 || state.Length > 256)
        {
            return 0;
        }

        Span<byte> mac = stackalloc byte[MacBytes + 2];
        if (
            Base64Url.DecodeFromChars(state.AsSpan(0, dot), payload, out _, out var payloadLength) != System.Buffers.OperationStatus.Done
            || Base64Url.DecodeFromChars(state.AsSpan(dot + 1), mac, out _, out var macLength) != System.Buffers.OperationStatus.Done
            || macLength != MacBytes
            || payloadLength < 41
        )
        {
            return 0;
        }

        var sealedPayload = payload[..payloadLength];
        Span<byte> expected = stackalloc byte[32];
        HMACSHA256.HashData(_key, sealedPayload, expected);
        var valid =
            CryptographicOperations.FixedTimeEquals(expected[..MacBytes], mac[..MacBytes])
            && sealedPayload[0] == format
            && BinaryPrimitives.ReadInt64BigEndian(sealedPayload[1..]) >= now.ToUnixTimeSeconds()
            && CryptographicOperations.FixedTimeEquals(sealedPayload[9..41], call[..32]);
        return valid ? payloadLength : 0;
    }
}
