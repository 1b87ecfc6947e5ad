using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Archestra.Gateway.Tests.Infrastructure;

/// <summary>One request as the raw server read it.</summary>
internal sealed record RawHttpRequest(string Method, string Path, string Body);

/// <summary>The exact bytes to answer with; <see cref="Close"/> ends the connection (FIN) right after them.</summary>
internal sealed record RawHttpAnswer(byte[] Bytes, bool Close)
{
    public static RawHttpAnswer Json(string json, string headers = "") =>
        Head(200, "OK", "application/json", Encoding.UTF8.GetByteCount(json), headers, json, close: false);

    public static RawHttpAnswer Empty(int status, string reason) => Head(status, reason, null, 0, "", "", close: false);

    /// <summary>Declares <paramref name="declaredLength"/> bytes, sends <paramref name="partial"/>, then closes.</summary>
    public static RawHttpAnswer CutShort(string partial, int declaredLength) => Head(200, "OK", "application/json", declaredLength, "", partial, close: true);

    private static RawHttpAnswer Head(int status, string reason, string? contentType, int length, string headers, string body, bool close)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {status} {reason}\r\n");
        if (contentType is not null)
        {
            text.Append(CultureInfo.InvariantCulture, $"Content-Type: {contentType}\r\n");
        }

        text.Append(CultureInfo.InvariantCulture, $"Content-Length: {length}\r\n{headers}\r\n{body}");
        return new RawHttpAnswer(Encoding.UTF8.GetBytes(text.ToString()), close);
    }
}

/// <summary>
/// An HTTP/1.1 server on a plain socket, for answers Kestrel refuses to send (a body shorter than its
/// Content-Length, followed by an orderly close). Keeps connections alive between answers.
/// </summary>
internal sealed class RawHttpServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Func<RawHttpRequest, RawHttpAnswer> _answer;
    private readonly Task _accepting;

    public RawHttpServer(Func<RawHttpRequest, RawHttpAnswer> answer)
    {
        _answer = answer;
        _listener.Start();
        Url = new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");
        _accepting = AcceptAsync();
    }

    public Uri Url { get; }

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                _ = ServeAsync(client);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stopped.
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                while (await ReadRequestAsync(stream) is { } request)
                {
                    var answer = _answer(request);
                    await stream.WriteAsync(answer.Bytes, _stop.Token);
                    if (answer.Close)
                    {
                        client.Client.Shutdown(SocketShutdown.Send);
                        return;
                    }
                }
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // The peer went away.
            }
        }
    }

    private async Task<RawHttpRequest?> ReadRequestAsync(NetworkStream stream)
    {
        var head = new List<byte>(512);
        var one = new byte[1];
        while (head.Count < 4 || head[^4] != '\r' || head[^3] != '\n' || head[^2] != '\r' || head[^1] != '\n')
        {
            if (await stream.ReadAsync(one, _stop.Token) == 0 || head.Count > 64 * 1024)
            {
                return null;
            }

            head.Add(one[0]);
        }

        var lines = Encoding.ASCII.GetString([.. head]).Split("\r\n");
        var requestLine = lines[0].Split(' ');
        var length = 0;
        foreach (var line in lines[1..])
        {
            if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
            {
                length = int.Parse(line["Content-Length:".Length..].Trim(), CultureInfo.InvariantCulture);
            }
        }

        var body = new byte[length];
        await stream.ReadExactlyAsync(body, _stop.Token);
        return new RawHttpRequest(requestLine[0], requestLine[1], Encoding.UTF8.GetString(body));
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        _stop.Dispose();
    }
}
