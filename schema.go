package bridge

// Table is the only table Jetmon 1 uses, and the only one the bridge reads.
const Table = "jetpack_monitor_sites"

// Schema is Jetmon 1's definition of Table. The bridge never creates it in
// production; tests, the demo and the simulator do.
const Schema = "CREATE TABLE IF NOT EXISTS `jetpack_monitor_sites` (\n" +
	"  `jetpack_monitor_site_id` bigint(20) unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,\n" +
	"  `blog_id` bigint(20) unsigned NOT NULL,\n" +
	"  `bucket_no` smallint(2) unsigned NOT NULL,\n" +
	"  `monitor_url` varchar(300) NOT NULL,\n" +
	"  `monitor_active` tinyint(1) unsigned NOT NULL DEFAULT 1,\n" +
	"  `site_status` tinyint(1) unsigned NOT NULL DEFAULT 1,\n" +
	"  `last_status_change` timestamp NULL DEFAULT current_timestamp(),\n" +
	"  `check_interval` tinyint(1) unsigned NOT NULL DEFAULT 5,\n" +
	"  INDEX `blog_id_monitor_url` (`blog_id`, `monitor_url`),\n" +
	"  INDEX `bucket_no_monitor_active_check_interval` (`bucket_no`, `monitor_active`, `check_interval`)\n" +
	") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
