using System.Net;
using System.Security.Cryptography;
using System.Text;
using Archestra.Gateway.Configuration;

namespace Archestra.Gateway.Llm;

/// <summary>
/// One provider: its pooled connections (one <see cref="SocketsHttpHandler"/> behind an
/// <see cref="HttpMessageInvoker"/>, which unlike HttpClient never buffers a response) and its key.
/// </summary>
internal sealed class LlmUpstream : IDisposable
{
    public LlmUpstream(LlmProviderConfig config)
    {
        Config = config;
        BaseUrl = config.BaseUrl.AbsoluteUri.TrimEnd('/');
        Invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            // The proxy reads usage from the bytes, so it asks for identity encoding and never decompresses.
            AutomaticDecompression = DecompressionMethods.None,
            AllowAutoRedirect = false,
            UseCookies = false,
            // DNS changes of the provider (failover) are picked up within this time; matches YARP's default.
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            ConnectTimeout = TimeSpan.FromSeconds(10),
            EnableMultipleHttp2Connections = true,
        }, disposeHandler: true);
    }

    public LlmProviderConfig Config { get; }

    public string Name => Config.Name;

    public LlmProviderKind Kind => Config.Kind;

    /// <summary>The base URL without a trailing slash; the client's path after its base URL is appended.</summary>
    public string BaseUrl { get; }

    public HttpMessageInvoker Invoker { get; }

    public void Dispose() => Invoker.Dispose();
}

/// <summary>A profile's LLM side: the upstream for each API and who may call it.</summary>
internal sealed class LlmProfile
{
    private readonly byte[][] _keyHashes;

    public LlmProfile(string name, ProfileLlmConfig config, LlmUpstream? openAi, LlmUpstream? anthropic)
    {
        Name = name;
        Config = config;
        OpenAi = openAi;
        Anthropic = anthropic;
        PassThrough = config.PassThrough;
        ToolGuard = config.ToolGuard;
        _keyHashes = [.. config.VirtualKeyHashes];
    }

    public string Name { get; }

    public ProfileLlmConfig Config { get; }

    public LlmUpstream? OpenAi { get; }

    public LlmUpstream? Anthropic { get; }

    public bool PassThrough { get; }

    /// <summary>Tool calls in answers are evaluated (<see cref="ProfileLlmConfig.ToolGuard"/>).</summary>
    public bool ToolGuard { get; }

    /// <summary>Neither virtual keys nor pass-through: anyone who reaches the port spends the provider key.</summary>
    public bool Open => _keyHashes.Length == 0 && !PassThrough;

    public LlmUpstream? For(LlmProviderKind kind) => kind == LlmProviderKind.OpenAi ? OpenAi : Anthropic;

    /// <summary>Constant time, like <see cref="Mcp.GatewayProfile.AcceptsToken"/>: hash, then compare with every hash without an early exit.</summary>
    public bool AcceptsKey(ReadOnlySpan<char> key)
    {
        if (key.IsEmpty || key.Length > 4096)
        {
            return false;
        }

        Span<byte> utf8 = key.Length <= 256 ? stackalloc byte[key.Length * 3] : new byte[key.Length * 3];
        var n = Encoding.UTF8.GetBytes(key, utf8);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(utf8[..n], hash);
        var ok = false;
        foreach (var expected in _keyHashes)
        {
            ok |= CryptographicOperations.FixedTimeEquals(hash, expected);
        }

        return ok;
    }
}
