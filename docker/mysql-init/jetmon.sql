-- Local mode's MySQL: Jetmon 1's schema, two monitors, a recorded
-- down/recovery, the bridge's replication user and a scheduled event that
-- keeps one monitor changing so the journal has live history.
--
-- The official mysql image runs this file once, on the first start of an
-- empty data volume, against MYSQL_DATABASE (jetmon), as root.

SET time_zone = '+00:00';
USE jetmon;

-- Jetmon 1's only table, exactly as Jetmon 1 defines it (the same as bridge.Schema in schema.go).
CREATE TABLE IF NOT EXISTS `jetpack_monitor_sites` (
  `jetpack_monitor_site_id` bigint(20) unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,
  `blog_id` bigint(20) unsigned NOT NULL,
  `bucket_no` smallint(2) unsigned NOT NULL,
  `monitor_url` varchar(300) NOT NULL,
  `monitor_active` tinyint(1) unsigned NOT NULL DEFAULT 1,
  `site_status` tinyint(1) unsigned NOT NULL DEFAULT 1,
  `last_status_change` timestamp NULL DEFAULT current_timestamp(),
  `check_interval` tinyint(1) unsigned NOT NULL DEFAULT 5,
  INDEX `blog_id_monitor_url` (`blog_id`, `monitor_url`),
  INDEX `bucket_no_monitor_active_check_interval` (`bucket_no`, `monitor_active`, `check_interval`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Two monitor sites, created an hour ago.
SET @start = UNIX_TIMESTAMP() - 3600;
SET timestamp = @start;
INSERT INTO jetpack_monitor_sites (blog_id, bucket_no, monitor_url) VALUES
  (12345, 0, 'https://bench-target-01.example.com'),
  (12346, 0, 'https://bench-target-02.example.com');

-- A recorded down/recovery of blog 12345, written the way Jetmon 1 writes it
-- (its own UPDATE, with NOW()), with the session clock set back so that the
-- three transitions lie 30, 29 and 20 minutes in the past:
-- 1 -> 0 (down, unconfirmed), 0 -> 2 (confirmed down by the verifiers),
-- 2 -> 1 (recovered).
SET @url = 'https://bench-target-01.example.com', @blog = 12345;
PREPARE jetmon FROM 'UPDATE jetpack_monitor_sites SET site_status=?, last_status_change=NOW() WHERE blog_id=? AND monitor_url=?';
SET timestamp = @start + 1800, @status = 0;
EXECUTE jetmon USING @status, @blog, @url;
SET timestamp = @start + 1860, @status = 2;
EXECUTE jetmon USING @status, @blog, @url;
SET timestamp = @start + 2400, @status = 1;
EXECUTE jetmon USING @status, @blog, @url;
DEALLOCATE PREPARE jetmon;
SET timestamp = DEFAULT;

-- The bridge's user, with exactly what the bridge needs: REPLICATION SLAVE
-- to stream the binlog, REPLICATION CLIENT to read the binlog position and
-- replication status, SELECT on the Jetmon database for monitor lookups,
-- v1 synthesis and the table snapshot that starts a coverage span.
CREATE USER IF NOT EXISTS 'jetmon_bridge'@'%' IDENTIFIED BY 'jetmon-bridge-local';
GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'jetmon_bridge'@'%';
GRANT SELECT ON jetmon.* TO 'jetmon_bridge'@'%';

-- Live history: every two minutes blog 12346 takes the next step of
-- 1 -> 0 -> 2 -> 1, with Jetmon 1's statement shape, so the bridge journals
-- a down/confirmed/recovery cycle every six minutes. Stop it with
--   ALTER EVENT jetmon.jetmon_local_flap DISABLE;
CREATE EVENT IF NOT EXISTS jetmon_local_flap
  ON SCHEDULE EVERY 2 MINUTE
  DO
    UPDATE jetpack_monitor_sites
       SET site_status = CASE site_status WHEN 1 THEN 0 WHEN 0 THEN 2 ELSE 1 END,
           last_status_change = NOW()
     WHERE blog_id = 12346 AND monitor_url = 'https://bench-target-02.example.com';
