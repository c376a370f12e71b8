// data/image_jpeg.cpp — JPEG through libjpeg-turbo, strictly (data/image_decode.h).
//
// libjpeg reports errors through a callback that must not return; the standard answer is
// setjmp/longjmp, so the two functions that call setjmp hold no C++ object that needs a
// destructor between the setjmp and the end of libjpeg's work, and the callbacks below hold none
// either. Errors are written into ErrorManager::message and turned into raoq::Error afterwards.
//
// Three things differ from libjpeg's defaults, each for a hostile or broken file:
//   the end of the data is an error (libjpeg would insert a fake end-of-image marker and decode
//   the missing part as grey); a warning is an error (it means corrupt data was papered over),
//   except extraneous bytes before a marker, which change no pixel; at most max_jpeg_scans scans
//   (each progressive scan costs a pass over the whole image) and bounded working memory.
#include <algorithm>
#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
// jpeglib.h needs FILE and size_t declared first.
#include <jpeglib.h>
#include <jerror.h>

#include "core/error.h"
#include "data/detail/image_codecs.h"

namespace raoq::data::detail {
namespace {

struct ErrorManager {
  jpeg_error_mgr pub;  // first: libjpeg hands back a pointer to it
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX + 160];
  bool too_large;  // the header is fine but declares more pixels than the limits allow
};

struct Source {
  jpeg_source_mgr pub;  // first, as above
  std::FILE* file;      // the probe reads as libjpeg asks; null: the whole file is in memory
  uint64_t fed;         // bytes handed to libjpeg so far
  JOCTET buffer[4096];
};

struct Progress {
  jpeg_progress_mgr pub;
  int max_scans;
};

ErrorManager& errors_of(j_common_ptr c) { return *reinterpret_cast<ErrorManager*>(c->err); }

// The byte libjpeg is reading (0 before a source exists).
unsigned long long position(j_common_ptr c) {
  if (!c->is_decompressor) return 0;
  const auto* src = reinterpret_cast<j_decompress_ptr>(c)->src;
  if (src == nullptr) return 0;
  const auto* s = reinterpret_cast<const Source*>(src);
  return s->fed - s->pub.bytes_in_buffer;
}

[[noreturn]] void jump_out(j_common_ptr c) { std::longjmp(errors_of(c).jump, 1); }

void on_error(j_common_ptr c) {
  char text[JMSG_LENGTH_MAX];
  (*c->err->format_message)(c, text);
  std::snprintf(errors_of(c).message, sizeof errors_of(c).message, "%s (near byte %llu)", text, position(c));
  jump_out(c);
}

void on_message(j_common_ptr c, int level) {
  if (level < 0 && c->err->msg_code != JWRN_EXTRANEOUS_DATA) on_error(c);  // level -1: a warning
}

void on_progress(j_common_ptr c) {
  const auto* d = reinterpret_cast<j_decompress_ptr>(c);
  const int limit = reinterpret_cast<Progress*>(c->progress)->max_scans;
  if (d->input_scan_number <= limit) return;
  std::snprintf(errors_of(c).message, sizeof errors_of(c).message,
                "holds more than %d scans (near byte %llu), expected at most %d (a progressive JPEG needs about 10)",
                limit, position(c), limit);
  jump_out(c);
}

void init_source(j_decompress_ptr) {}
void term_source(j_decompress_ptr) {}

boolean fill_input_buffer(j_decompress_ptr c) {
  auto* s = reinterpret_cast<Source*>(c->src);
  if (s->file != nullptr) {
    const size_t n = std::fread(s->buffer, 1, sizeof s->buffer, s->file);
    if (n > 0) {
      s->pub.next_input_byte = s->buffer;
      s->pub.bytes_in_buffer = n;
      s->fed += n;
      return TRUE;
    }
    if (std::ferror(s->file)) {
      std::snprintf(errors_of(reinterpret_cast<j_common_ptr>(c)).message, sizeof(ErrorManager::message),
                    "read error at byte %llu (%s)", static_cast<unsigned long long>(s->fed), std::strerror(errno));
      jump_out(reinterpret_cast<j_common_ptr>(c));
    }
  }
  std::snprintf(errors_of(reinterpret_cast<j_common_ptr>(c)).message, sizeof(ErrorManager::message),
                "the data ends at byte %llu, expected more JPEG data up to the end-of-image marker: truncated",
                static_cast<unsigned long long>(s->fed));
  jump_out(reinterpret_cast<j_common_ptr>(c));
}

void skip_input_data(j_decompress_ptr c, long n) {
  if (n <= 0) return;
  auto* s = reinterpret_cast<Source*>(c->src);
  while (static_cast<unsigned long>(n) > s->pub.bytes_in_buffer) {
    n -= static_cast<long>(s->pub.bytes_in_buffer);
    s->pub.bytes_in_buffer = 0;
    fill_input_buffer(c);
  }
  s->pub.next_input_byte += n;
  s->pub.bytes_in_buffer -= static_cast<size_t>(n);
}

// Sets up cinfo with our error manager, source and progress monitor; call under setjmp.
void start(jpeg_decompress_struct& cinfo, ErrorManager& err, Source& src, Progress& progress, const ImageLimits& limits) {
  std::memset(&cinfo, 0, sizeof cinfo);  // jpeg_destroy is safe on a struct that create never reached
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  err.pub.emit_message = on_message;
  jpeg_create_decompress(&cinfo);
  // Working memory (a progressive file keeps every coefficient: 2 bytes per pixel and channel)
  // beyond what the largest allowed image needs is refused instead of allocated.
  cinfo.mem->max_memory_to_use = static_cast<long>(std::min<int64_t>(limits.max_pixels * 16 + (64 << 20), 1L << 40));
  src.pub.init_source = init_source;
  src.pub.fill_input_buffer = fill_input_buffer;
  src.pub.skip_input_data = skip_input_data;
  src.pub.resync_to_restart = jpeg_resync_to_restart;
  src.pub.term_source = term_source;
  cinfo.src = &src.pub;
  progress.pub.progress_monitor = on_progress;
  progress.max_scans = limits.max_jpeg_scans;
  cinfo.progress = &progress.pub;
}

// Reads the header; false with err.message set when it declares too many pixels.
bool read_header(jpeg_decompress_struct& cinfo, ErrorManager& err, const ImageLimits& limits) {
  jpeg_read_header(&cinfo, TRUE);  // TRUE: a file of tables only is an error
  const std::string problem = declared_size_problem(cinfo.image_width, cinfo.image_height, limits);
  if (problem.empty()) return true;
  std::snprintf(err.message, sizeof err.message, "%s", problem.c_str());
  err.too_large = true;
  return false;
}

bool probe_into(std::FILE* file, const ImageLimits& limits, ImageInfo& info, ErrorManager& err) {
  jpeg_decompress_struct cinfo;
  Source src{};
  src.file = file;
  Progress progress{};
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  start(cinfo, err, src, progress, limits);
  const bool ok = read_header(cinfo, err, limits);
  info.format = ImageFormat::jpeg;
  info.width = cinfo.image_width;
  info.height = cinfo.image_height;
  jpeg_destroy_decompress(&cinfo);
  return ok;
}

bool decode_into(const uint8_t* data, size_t size, const ImageLimits& limits, NativeImage& out, ErrorManager& err) {
  jpeg_decompress_struct cinfo;
  Source src{};
  src.pub.next_input_byte = data;
  src.pub.bytes_in_buffer = size;
  src.fed = size;
  Progress progress{};
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  start(cinfo, err, src, progress, limits);
  if (!read_header(cinfo, err, limits)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: cinfo.out_color_space = JCS_GRAYSCALE; break;
    case JCS_CMYK:
    case JCS_YCCK: cinfo.out_color_space = JCS_CMYK; break;
    default: cinfo.out_color_space = JCS_RGB; break;
  }
  jpeg_start_decompress(&cinfo);
  out.width = cinfo.output_width;
  out.height = cinfo.output_height;
  out.channels = cinfo.output_components;
  out.cmyk = cinfo.out_color_space == JCS_CMYK;
  const auto stride = static_cast<size_t>(out.width * out.channels);
  // Within max_pixels (checked above), so the size is bounded; out is the caller's object, so
  // nothing is leaked when a later row jumps back to setjmp.
  out.pixels.resize(stride * static_cast<size_t>(out.height));
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out.pixels.data() + stride * cinfo.output_scanline;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  // Every row is decoded: whatever follows the last scan (a missing end marker, trailing bytes)
  // changes no pixel, so it is not read (jpeg_finish_decompress would demand the marker).
  jpeg_destroy_decompress(&cinfo);
  return true;
}

}  // namespace

ImageInfo probe_jpeg(std::FILE* file, const ImageLimits& limits, const std::string& where) {
  ErrorManager err{};
  ImageInfo info;
  if (!probe_into(file, limits, info, err))
    throw Error(where + (err.too_large ? std::string(err.message) : "not a readable JPEG image (" + std::string(err.message) + ")"));
  return info;
}

NativeImage decode_jpeg(const uint8_t* data, size_t size, const ImageLimits& limits, const std::string& where) {
  ErrorManager err{};
  NativeImage out;
  if (!decode_into(data, size, limits, out, err))
    throw Error(where + (err.too_large ? std::string(err.message) : "cannot decode (JPEG: " + std::string(err.message) + ")"));
  return out;
}

}  // namespace raoq::data::detail
