using Microsoft.Data.Sqlite;

namespace Gatehouse.Storage.Tests;

/// <summary>One SQL statement run on a connection, for tests that look at or change a store file directly.</summary>
internal static class SqlCommands
{
    public static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    public static long Scalar(SqliteConnection connection, string sql) => (long)ScalarObject(connection, sql);

    public static string Text(SqliteConnection connection, string sql) => (string)ScalarObject(connection, sql);

    private static object ScalarObject(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar()!;
    }
}
