using Archestra.Runtime.Diagnostics;
using Npgsql;

namespace Archestra.Storage.Postgres;

/// <summary>LISTEN/NOTIFY on <see cref="ArchestraStore.ChangeChannel"/>: how replicas hear each other's admin changes.</summary>
internal sealed partial class PostgresStore
{
    private static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan LastRetry = TimeSpan.FromSeconds(5);

    // A connection that died without a FIN (a dropped route, a paused VM) would wait forever: check it this often.
    private static readonly TimeSpan IdleCheck = TimeSpan.FromSeconds(15);

    private protected override Task NotifyAsync(StoreTransaction tx, string kind, CancellationToken cancellationToken) =>
        tx.ExecuteAsync($"SELECT pg_notify('{ChangeChannel}', @payload)", cancellationToken, ("payload", ChangePayload(kind)));

    public override async Task ListenAsync(Func<StoreChange, Task> onChange, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(onChange);
        var retry = FirstRetry;
        var heard = new Queue<string>();
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
                connection.Notification += (_, e) =>
                {
                    if (e.Channel == ChangeChannel && TryReadPayload(e.Payload, Origin, out var kind))
                    {
                        heard.Enqueue(kind!);
                    }
                };
                await ExecuteAsync(connection, $"LISTEN {ChangeChannel}", cancellationToken).ConfigureAwait(false);
                Log.ChangesListening(Logger, ChangeChannel);
                retry = FirstRetry;
                // What was committed before LISTEN took effect (while starting, or while disconnected) was not heard.
                await onChange(new StoreChange(null)).ConfigureAwait(false);
                while (true)
                {
                    // Notifications are raised on this thread inside WaitAsync, so the queue needs no lock.
                    if (!await connection.WaitAsync(IdleCheck, cancellationToken).ConfigureAwait(false))
                    {
                        await ExecuteAsync(connection, "SELECT 1", cancellationToken).ConfigureAwait(false);
                    }

                    while (heard.TryDequeue(out var kind))
                    {
                        await onChange(new StoreChange(kind)).ConfigureAwait(false);
                    }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is NpgsqlException or IOException or InvalidOperationException or TimeoutException)
            {
                heard.Clear();
                Log.ChangesLost(Logger, (long)retry.TotalMilliseconds, new LogText(ex.Message));
                try
                {
                    await Task.Delay(retry, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                retry = TimeSpan.FromTicks(Math.Min(retry.Ticks * 2, LastRetry.Ticks));
            }
        }
    }
}
