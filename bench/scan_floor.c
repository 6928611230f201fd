/* scan_floor: the floor for a sysfs walk. Reads the same attribute files `diskinv scan` reads
 * for every disk and partition under ROOT (sys/block, the partitions, the device/ identity
 * files and the udev record) with open/read/close and nothing else: no parsing, no output.
 * bench/scan_vs_lsblk times diskinv against this. Usage: scan_floor ROOT */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *disk_attrs[] = {
    "dev", "hidden", "size", "ro", "alignment_offset", "discard_alignment", "removable",
    "diskseq", "ext_range", "queue/rotational", "queue/logical_block_size",
    "queue/physical_block_size", "queue/minimum_io_size", "queue/optimal_io_size",
    "queue/discard_granularity", "queue/discard_max_bytes", "queue/discard_max_hw_bytes",
    "queue/write_same_max_bytes", "queue/write_zeroes_max_bytes", "queue/max_sectors_kb",
    "queue/max_hw_sectors_kb", "queue/read_ahead_kb", "queue/nr_requests", "queue/rq_affinity",
    "queue/add_random", "queue/dax", "queue/zoned", "queue/nr_zones", "queue/chunk_sectors",
    "queue/max_open_zones", "queue/max_active_zones", "queue/zone_write_granularity",
    "queue/zone_append_max_bytes", "queue/scheduler",
    "queue/discard_zeroes_data", "device/vendor", "device/model", "device/serial", "device/rev",
    "device/state", "device/type", "device/wwid", "device/vpd_pg83", NULL};
static const char *part_attrs[] = {"dev", "size", "ro", "alignment_offset", "discard_alignment",
                                   "removable", "partition", "start", NULL};
static char buf[65536];
static unsigned long files;

static void read_file(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  if (read(fd, buf, sizeof(buf)) >= 0) files++;
  close(fd);
}

static void read_udev(const char *root, const char *dir) {
  char p[4096], dev[64];
  snprintf(p, sizeof(p), "%s/dev", dir);
  int fd = open(p, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, dev, sizeof(dev) - 1);
  close(fd);
  if (n <= 0) return;
  dev[n] = 0;
  dev[strcspn(dev, "\n")] = 0;
  snprintf(p, sizeof(p), "%s/run/udev/data/b%s", root, dev);
  read_file(p);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: scan_floor ROOT\n");
    return 2;
  }
  const char *root = argv[1];
  char dir[4096], p[16384];
  snprintf(dir, sizeof(dir), "%s/sys/block", root);
  DIR *d = opendir(dir);
  if (!d) {
    perror(dir);
    return 1;
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char disk[4096];
    snprintf(disk, sizeof(disk), "%s/sys/block/%s", root, e->d_name);
    for (const char **a = disk_attrs; *a; a++) {
      snprintf(p, sizeof(p), "%s/%s", disk, *a);
      read_file(p);
    }
    read_udev(root, disk);
    DIR *pd = opendir(disk);
    if (!pd) continue;
    struct dirent *pe;
    size_t len = strlen(e->d_name);
    while ((pe = readdir(pd))) {
      if (strncmp(pe->d_name, e->d_name, len) != 0 || pe->d_name[len] == 0) continue;
      char part[8192];
      snprintf(part, sizeof(part), "%s/%s", disk, pe->d_name);
      for (const char **a = part_attrs; *a; a++) {
        snprintf(p, sizeof(p), "%s/%s", part, *a);
        read_file(p);
      }
      read_udev(root, part);
    }
    closedir(pd);
  }
  closedir(d);
  printf("%lu files\n", files);
  return 0;
}
