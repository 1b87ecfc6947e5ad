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
    public static UpstreamMessage? TryCreate(ReadOnlySpan<byte> json)
    {
        var buffer = json.ToArray();
        return JsonRpcEnvelope.TryParse(buffer, out var envelope) == JsonRpcParseError.None
            ? new UpstreamMessage(buffer, envelope)
            : null;
    }

    /// <summary>Wraps an array the caller gives up ownership of.</summary>
    public static UpstreamMessage? TryWrap(byte[] json) =>
        JsonRpcEnvelope.TryParse(json, out var envelope) == JsonRpcParseError.None ? new UpstreamMessage(json, envelope) : null;

    public override string ToString() => System.Text.Encoding.UTF8.GetString(Buffer);
}
