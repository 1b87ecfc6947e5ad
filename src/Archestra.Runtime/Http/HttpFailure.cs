using System.Net.Sockets;
using System.Security.Authentication;

namespace Archestra.Runtime.Http;

/// <summary>
/// Our own words for why an HTTP exchange with an upstream failed, chosen by <see cref="HttpRequestError"/>, the
/// socket error and the exception type, never by message text. The NativeAOT build strips the framework's
/// resource strings (<c>UseSystemResourceKeys</c>), so its messages read like
/// <c>net_http_invalid_response_premature_eof_bytecount, 90</c>; these sentences are what clients, logs and
/// audit rows show instead.
/// </summary>
public static class HttpFailure
{
    /// <summary>A clause such as "the answer was cut short: the connection closed before the whole response arrived".</summary>
    public static string Describe(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var connection = false;
        for (var e = exception; e is not null; e = e.InnerException)
        {
            var error = e switch
            {
                HttpRequestException http => http.HttpRequestError,
                HttpIOException io => io.HttpRequestError,
                _ => HttpRequestError.Unknown,
            };

            // A connection error says more through the socket error it wraps, when there is one.
            if (error == HttpRequestError.ConnectionError)
            {
                connection = true;
                continue;
            }

            if (error != HttpRequestError.Unknown)
            {
                return Sentence(error);
            }

            switch (e)
            {
                case SocketException socket:
                    return Socket(socket.SocketErrorCode);
                case AuthenticationException:
                    return Sentence(HttpRequestError.SecureConnectionError);
                case TimeoutException:
                    return "the connection timed out";
                case ObjectDisposedException:
                    return "the connection was closed";
                case InvalidDataException data:
                    // Thrown by this gateway with its own message (a body over the size limit).
                    return data.Message;
            }
        }

        if (connection)
        {
            return Sentence(HttpRequestError.ConnectionError);
        }

        return exception is IOException
            ? "the connection failed while the answer was read"
            : $"the request failed ({exception.GetType().Name}: {exception.Message})";
    }

    /// <summary>True when no connection was made (nothing was sent), as opposed to one that broke afterwards.</summary>
    public static bool IsConnectFailure(Exception exception) =>
        exception
            is HttpRequestException
            {
                HttpRequestError: HttpRequestError.ConnectionError
                    or HttpRequestError.NameResolutionError
                    or HttpRequestError.SecureConnectionError
                    or HttpRequestError.ProxyTunnelError
            };

    private static string Sentence(HttpRequestError error) =>
        error switch
        {
            HttpRequestError.NameResolutionError => "the host name could not be resolved",
            HttpRequestError.ConnectionError => "the connection could not be made or was lost",
            HttpRequestError.SecureConnectionError => "the TLS handshake failed",
            HttpRequestError.HttpProtocolError => "the server broke the HTTP protocol",
            HttpRequestError.ExtendedConnectNotSupported => "the server does not support extended CONNECT",
            HttpRequestError.VersionNegotiationError => "no HTTP version could be agreed with the server",
            HttpRequestError.UserAuthenticationError => "authentication with the server failed",
            HttpRequestError.ProxyTunnelError => "the proxy tunnel could not be opened",
            HttpRequestError.InvalidResponse => "the server sent an invalid HTTP response",
            HttpRequestError.ResponseEnded => "the answer was cut short: the connection closed before the whole response arrived",
            HttpRequestError.ConfigurationLimitExceeded => "the response exceeded a limit (such as the size of its headers)",
            _ => "the request failed",
        };

    private static string Socket(SocketError error) =>
        error switch
        {
            SocketError.ConnectionRefused => "the connection was refused",
            SocketError.ConnectionReset => "the connection was reset by the server",
            SocketError.ConnectionAborted => "the connection was aborted",
            SocketError.TimedOut => "the connection timed out",
            SocketError.HostNotFound or SocketError.NoData or SocketError.TryAgain => "the host name could not be resolved",
            SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.HostDown or SocketError.NetworkDown => "the host is unreachable",
            SocketError.Shutdown or SocketError.NotConnected => "the connection was closed",
            _ => $"the connection failed (socket error {error})",
        };
}
