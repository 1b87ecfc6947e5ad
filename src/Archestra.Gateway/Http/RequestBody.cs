using System.Buffers;
using System.IO.Pipelines;
using Archestra.Runtime.Buffers;

namespace Archestra.Gateway.Http;

/// <summary>Request bodies as the MCP endpoint and the LLM proxy read them: whole, into a pooled array, bounded.</summary>
internal static class RequestBody
{
    /// <summary>Reads the whole body into a pooled array, stopping as soon as it exceeds the limit.</summary>
    public static async ValueTask<(byte[]? Body, int Length, bool TooLarge)> ReadAsync(
        PipeReader reader,
        long? contentLength,
        long limit,
        CancellationToken cancellationToken
    )
    {
        if (contentLength > limit)
        {
            return (null, 0, true);
        }

        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (buffer.Length > limit)
            {
                reader.AdvanceTo(buffer.End);
                return (null, 0, true);
            }

            if (result.IsCanceled)
            {
                // Only the whole body may be decided on: a read cut short is never taken for the end of it.
                throw new OperationCanceledException("the request body read was cancelled");
            }

            if (result.IsCompleted)
            {
                var length = (int)buffer.Length;
                var array = BytePool.Rent(Math.Max(length, 1));
                buffer.CopyTo(array);
                reader.AdvanceTo(buffer.End);
                return (array, length, false);
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }
}
