using System.Net;

namespace Archestra.Runtime.Http;

/// <summary>
/// A request body over bytes the caller keeps alive for the duration of the send. Unlike
/// <see cref="ByteArrayContent"/> it neither copies nor needs an array, and it sets the content type
/// without parsing a <c>MediaTypeHeaderValue</c> per request.
/// </summary>
internal sealed class JsonBodyContent : HttpContent
{
    private readonly ReadOnlyMemory<byte> _body;

    public JsonBodyContent(ReadOnlyMemory<byte> body)
    {
        _body = body;
        Headers.TryAddWithoutValidation("Content-Type", "application/json");
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => stream.WriteAsync(_body).AsTask();

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken) =>
        stream.WriteAsync(_body, cancellationToken).AsTask();

    protected override void SerializeToStream(Stream stream, TransportContext? context, CancellationToken cancellationToken) => stream.Write(_body.Span);

    protected override bool TryComputeLength(out long length)
    {
        length = _body.Length;
        return true;
    }
}
