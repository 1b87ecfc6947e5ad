using Archestra.Fixture.Mcp;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ModelContextProtocol.Server;

namespace Archestra.Fixture.Http;

/// <summary>Kestrel on the given URL (port 0 picks a free one) serving /mcp.</summary>
internal static class HttpHost
{
    public static async Task<int> RunAsync(string url)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(static o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseUrls(url);
        builder.Services.AddSingleton<FixtureCatalog>();
        builder.Services.AddSingleton<ISseEventStreamStore>(static services => CreateEventStore(services.GetRequiredService<ILoggerFactory>()));
        builder.Services.AddSingleton<ModernLeg>();
        builder.Services.AddSingleton<McpEndpoint>();

        var app = builder.Build();
        app.Use(LoopbackOnly.FilterAsync);
        var endpoint = app.Services.GetRequiredService<McpEndpoint>();
        app.MapPost("/mcp", endpoint.PostAsync);
        app.MapGet("/mcp", endpoint.GetAsync);
        app.MapDelete("/mcp", endpoint.DeleteAsync);

        await app.StartAsync().ConfigureAwait(false);

        // Scripts started with port 0 read the real address from this line.
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        await Console.Out.WriteLineAsync($"archestra-fixture listening on {addresses.First()}/mcp").ConfigureAwait(false);
        await Console.Out.FlushAsync().ConfigureAwait(false);

        await app.WaitForShutdownAsync().ConfigureAwait(false);
        await endpoint.DisposeAsync().ConfigureAwait(false);
        await app.DisposeAsync().ConfigureAwait(false);
        return 0;
    }

    // Resumability (SEP-1699: priming events, Last-Event-ID) needs an event store; the SDK's own
    // one over an in-process cache is enough for a single fixture process.
    private static DistributedCacheEventStreamStore CreateEventStore(ILoggerFactory loggerFactory)
    {
        IDistributedCache cache = new MemoryDistributedCache(Options.Create(new MemoryDistributedCacheOptions()));
        var options = Options.Create(new DistributedCacheEventStreamStoreOptions { Cache = cache });
        return new DistributedCacheEventStreamStore(options, loggerFactory.CreateLogger<DistributedCacheEventStreamStore>());
    }
}
