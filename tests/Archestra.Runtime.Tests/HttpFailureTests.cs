using System.Net;
using System.Net.Sockets;
using Archestra.Runtime.Http;

namespace Archestra.Runtime.Tests;

public class HttpFailureTests
{
    [Fact]
    public async Task A_refused_connection_is_described_from_the_socket_error()
    {
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        using var http = new HttpClient();
        var ex = await Assert.ThrowsAsync<HttpRequestException>(() =>
            http.GetAsync(new Uri($"http://127.0.0.1:{port}/"), TestContext.Current.CancellationToken)
        );
        Assert.Equal("the connection was refused", HttpFailure.Describe(ex));
        Assert.True(HttpFailure.IsConnectFailure(ex));
    }

    [Fact]
    public void Framework_errors_get_our_sentences_whatever_their_message_says()
    {
        Assert.Equal(
            "the answer was cut short: the connection closed before the whole response arrived",
            HttpFailure.Describe(
                new HttpRequestException(
                    "net_http_x",
                    new HttpIOException(HttpRequestError.ResponseEnded, "net_http_invalid_response_premature_eof_bytecount, 90")
                )
            )
        );
        Assert.Equal(
            "the server sent an invalid HTTP response",
            HttpFailure.Describe(new HttpRequestException(HttpRequestError.InvalidResponse, "net_http_invalid_response"))
        );
        Assert.Equal(
            "the connection was reset by the server",
            HttpFailure.Describe(new IOException("net_io_readfailure", new SocketException((int)SocketError.ConnectionReset)))
        );
        Assert.Equal(
            "the connection could not be made or was lost",
            HttpFailure.Describe(new HttpRequestException(HttpRequestError.ConnectionError, "net_http_x"))
        );
        Assert.Equal("the body is too large", HttpFailure.Describe(new InvalidDataException("the body is too large")));
    }
}
