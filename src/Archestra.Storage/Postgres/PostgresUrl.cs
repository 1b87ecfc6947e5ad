using Npgsql;

namespace Archestra.Storage.Postgres;

/// <summary>
/// Turns <c>postgres://user:pass@host:port/db?sslmode=require&amp;...</c> (the libpq URI form that hosting providers
/// hand out) into an Npgsql connection string. A value that is not a URI is taken as a connection string already.
/// </summary>
public static class PostgresUrl
{
    public static string ToConnectionString(string url)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(url);
        if (!url.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) && !url.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase))
        {
            // Validate it now so a typo fails at start, naming the setting.
            try
            {
                return new NpgsqlConnectionStringBuilder(url).ConnectionString;
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException(
                    $"database: '{Redact(url)}' is neither a postgres:// URL nor a valid connection string ({e.Message})",
                    nameof(url),
                    e
                );
            }
        }

        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            throw new ArgumentException(
                $"database: '{Redact(url)}' is not a valid postgres:// URL (expected postgres://user:password@host:port/database)",
                nameof(url)
            );
        }

        var builder = new NpgsqlConnectionStringBuilder
        {
            // Uri keeps IPv6 hosts bracketed; Npgsql wants them bare.
            Host = uri.Host.Trim('[', ']'),
            Port = uri.IsDefaultPort || uri.Port <= 0 ? 5432 : uri.Port,
        };

        var userInfo = uri.UserInfo;
        if (userInfo.Length > 0)
        {
            var colon = userInfo.IndexOf(':', StringComparison.Ordinal);
            builder.Username = Uri.UnescapeDataString(colon < 0 ? userInfo : userInfo[..colon]);
            if (colon >= 0)
            {
                builder.Password = Uri.UnescapeDataString(userInfo[(colon + 1)..]);
            }
        }

        var database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        if (database.Length > 0)
        {
            builder.Database = database;
        }

        var query = uri.Query.TrimStart('?');
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            var key = Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq]).Replace('+', ' ');
            var value = eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..].Replace('+', ' '));
            var mapped = key.ToUpperInvariant() switch
            {
                // libpq parameter names that differ from Npgsql's.
                "SSLMODE" => "SSL Mode",
                "CONNECT_TIMEOUT" => "Timeout",
                "APPLICATION_NAME" => "Application Name",
                "SSLROOTCERT" => "Root Certificate",
                "SSLCERT" => "SSL Certificate",
                "SSLKEY" => "SSL Key",
                "TARGET_SESSION_ATTRS" => "Target Session Attributes",
                "OPTIONS" => "Options",
                _ => key,
            };
            try
            {
                builder[mapped] = value;
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"database: URL parameter '{key}' is not understood ({e.Message})", nameof(url), e);
            }
        }

        return builder.ConnectionString;
    }

    /// <summary>The URL with its password replaced, for messages and logs.</summary>
    public static string Redact(string url)
    {
        var at = url.IndexOf('@', StringComparison.Ordinal);
        var scheme = url.IndexOf("://", StringComparison.Ordinal);
        if (scheme < 0 || at < 0)
        {
            return url.Contains("password", StringComparison.OrdinalIgnoreCase) ? "(connection string)" : url;
        }

        var colon = url.IndexOf(':', scheme + 3);
        return colon > 0 && colon < at ? string.Concat(url.AsSpan(0, colon + 1), "***", url.AsSpan(at)) : url;
    }
}
