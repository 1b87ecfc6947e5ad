using Archestra.Runtime.JsonRpc;

namespace Archestra.Runtime.Upstreams;

/// <summary>One JSON-RPC message received from an upstream, with its envelope parsed once.</summary>
public sealed class UpstreamMessage
{
    private UpstreamMessage(byte[] buffer, JsonRpcEnvelope envelope)
    {
        Buffer = buffer;
        Envelope = envelope;
    }

    /// <summary>The message bytes; the array is exactly the message (never pooled, safe to keep).</summary>
    public byte[] Buffer { get; }

    public JsonRpcEnvelope Envelope { get; }

    public ReadOnlySpan<byte> Span => Buffer;

    public JsonRpcKind Kind => Envelope.Kind;

    public bool MethodIs(ReadOnlySpan<byte> method) => Envelope.MethodIs(Buffer, method);

    /// <summary>Copies and parses <paramref name="json"/>; null when it is not one valid JSON-RPC message.</summary>
    public static UpstreamMessage? TryCreate(ReadOnlySpan<byte> json) => TryCreate(json, out _);

    /// <summary>Copies and parses <paramref name="json"/>; null with the reason when it is not one valid JSON-RPC message.</summary>
    public static UpstreamMessage? TryCreate(ReadOnlySpan<byte> json, out JsonRpcParseError error)
    {
        error = JsonRpcEnvelope.TryParse(json, out var envelope);
        return error == JsonRpcParseError.None ? new UpstreamMessage(json.ToArray(), envelope) : null;
    }

    /// <summary>Wraps an array the caller gives up ownership of.</summary>
    public static UpstreamMessage? TryWrap(byte[] json) => TryWrap(json, out _);

    /// <summary>Wraps an array the caller gives up ownership of; null with the reason when it is not one valid JSON-RPC message.</summary>
    public static UpstreamMessage? TryWrap(byte[] json, out JsonRpcParseError error)
    {
        error = JsonRpcEnvelope.TryParse(json, out var envelope);
        return error == JsonRpcParseError.None ? new UpstreamMessage(json, envelope) : null;
    }

    public override string ToString() => System.Text.Encoding.UTF8.GetString(Buffer);
}
