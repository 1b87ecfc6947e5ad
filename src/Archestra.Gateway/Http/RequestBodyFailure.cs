using System.Globalization;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace Archestra.Gateway.Http;

/// <summary>
/// The one answer every listener gives when Kestrel refuses a request body while the application reads it: a broken
/// chunked encoding or a body cut short (400), a body trickling under the minimum data rate (408), a body over
/// Kestrel's size limit (413). Each listener writes it in its own error format.
/// </summary>
internal static class RequestBodyFailure
{
    /// <summary>
    /// The status (<see cref="BadHttpRequestException.StatusCode"/>) and a message a person can act on; null when
    /// nobody can be answered (the connection is gone, or the response already started).
    /// </summary>
    /// <param name="limitKey">The setting that bounds the body's size on this listener, named in a 413 message.</param>
    public static (int Status, string Message)? Describe(HttpContext context, BadHttpRequestException exception, string limitKey)
    {
        if (context.RequestAborted.IsCancellationRequested || context.Response.HasStarted)
        {
            return null;
        }

        var status = exception.StatusCode;
        string message;
        if (status == StatusCodes.Status408RequestTimeout)
        {
            var rate = context.Features.Get<IHttpMinRequestBodyDataRateFeature>()?.MinDataRate;
            message = rate is null
                ? "The request body arrived too slowly (limits.minRequestBodyBytesPerSecond); send it at once."
                : string.Create(
                    CultureInfo.InvariantCulture,
                    $"The request body arrived slower than the minimum of {rate.BytesPerSecond:0} bytes/s after a grace period of "
                        + $"{rate.GracePeriod.TotalSeconds:0.#} s"
                ) + " (limits.minRequestBodyBytesPerSecond, limits.requestBodyGracePeriodSeconds); send the body at once.";
        }
        else if (status == StatusCodes.Status413PayloadTooLarge)
        {
            var max = context.Features.Get<IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize;
            message = max is null
                ? $"The request body is too large ({limitKey})."
                : string.Create(CultureInfo.InvariantCulture, $"The request body exceeds the limit of {max} bytes ({limitKey}).");
        }
        else
        {
            // Kestrel's own text names the framing problem, e.g. "Bad chunk size data." or "Unexpected end of request content."
            message = $"The request body could not be read: {exception.Message}";
        }

        return (status, message);
    }
}
