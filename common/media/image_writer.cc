#include "common/media/image_writer.h"

#include <errno.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/media/ffmpeg_ptr.h"
#include "common/media/frame_convert.h"
#include "common/status_macros.h"

extern "C" {
#include <libavutil/mem.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
}

namespace anifarm {
namespace {

namespace fs = std::filesystem;

enum class Format { kPng, kJpeg, kWebp };

const char* FormatName(Format format) {
  switch (format) {
    case Format::kPng:
      return "PNG";
    case Format::kJpeg:
      return "JPEG";
    case Format::kWebp:
      return "WebP";
  }
  return "?";
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::optional<Format> FormatFromName(const std::string& name) {
  const std::string lower = Lower(name);
  if (lower == "png") return Format::kPng;
  if (lower == "jpeg" || lower == "jpg") return Format::kJpeg;
  if (lower == "webp") return Format::kWebp;
  return std::nullopt;
}

// ".png" -> PNG, ".jpg"/".jpeg" -> JPEG, ".webp" -> WebP (any case).
std::optional<Format> FormatFromExtension(const std::string& extension) {
  const std::string lower = Lower(extension);
  if (lower == ".png") return Format::kPng;
  if (lower == ".jpg" || lower == ".jpeg") return Format::kJpeg;
  if (lower == ".webp") return Format::kWebp;
  return std::nullopt;
}

absl::StatusOr<Format> ResolveFormat(const ImageWriteOptions& options, const std::string& path) {
  const std::string extension = fs::path(path).extension().string();
  const std::optional<Format> from_extension = FormatFromExtension(extension);
  if (options.format.empty()) {
    if (!from_extension) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot tell the image format of \"", path, "\" from its extension \"",
                       extension, "\": use .png, .jpg, .jpeg or .webp, or set the format"));
    }
    return *from_extension;
  }
  const std::optional<Format> named = FormatFromName(options.format);
  if (!named) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown image format \"", options.format, "\" (expected png, jpeg or webp)"));
  }
  if (from_extension && *from_extension != *named) {
    return absl::InvalidArgumentError(absl::StrCat("format \"", options.format,
                                                   "\" does not match the extension \"", extension,
                                                   "\" of \"", path, "\""));
  }
  return *named;
}

absl::Status CheckRange(Format format, const char* what, int value, int low, int high,
                        int default_value) {
  if (value == -1 || (value >= low && value <= high)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(FormatName(format), " ", what, " ", value,
                                                 " is out of range ", low, "-", high,
                                                 " (-1 = ", default_value, ", the default)"));
}

absl::Status ValidateResolved(Format format, const ImageWriteOptions& options) {
  switch (format) {
    case Format::kPng:
      if (options.quality != -1) {
        return absl::InvalidArgumentError(
            absl::StrCat("quality ", options.quality,
                         " does not apply to PNG, which is lossless (use compression 0-9)"));
      }
      RETURN_IF_ERROR(
          CheckRange(format, "compression", options.compression, 0, 9, kDefaultPngCompression));
      if (options.bit_depth != 8 && options.bit_depth != 16) {
        return absl::InvalidArgumentError(
            absl::StrCat("PNG bit depth ", options.bit_depth, " is not 8 or 16"));
      }
      break;
    case Format::kJpeg:
      RETURN_IF_ERROR(CheckRange(format, "quality", options.quality, 1, 100, kDefaultJpegQuality));
      if (options.compression != -1) {
        return absl::InvalidArgumentError(
            absl::StrCat("compression ", options.compression,
                         " does not apply to JPEG (its size is set by quality 1-100)"));
      }
      if (options.lossless) {
        return absl::InvalidArgumentError(
            "lossless does not apply to JPEG (use PNG or lossless WebP)");
      }
      if (options.bit_depth != 8) {
        return absl::InvalidArgumentError(
            absl::StrCat("JPEG bit depth ", options.bit_depth, " is not supported (8 only)"));
      }
      break;
    case Format::kWebp:
      RETURN_IF_ERROR(CheckRange(format, "quality", options.quality, 0, 100, kDefaultWebpQuality));
      RETURN_IF_ERROR(CheckRange(format, "compression (method)", options.compression, 0, 6,
                                 kDefaultWebpMethod));
      if (options.bit_depth != 8) {
        return absl::InvalidArgumentError(
            absl::StrCat("WebP bit depth ", options.bit_depth, " is not supported (8 only)"));
      }
      break;
  }
  return absl::OkStatus();
}

absl::Status CheckImage(const RgbImage& image, Format format) {
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != static_cast<size_t>(image.width) * image.height * 3) {
    return absl::InvalidArgumentError(absl::StrCat("cannot encode a ", image.width, "x",
                                                   image.height, " image of ", image.pixels.size(),
                                                   " bytes as ", FormatName(format)));
  }
  // WebP stores 14-bit dimensions, baseline JPEG 16-bit ones.
  const int limit = format == Format::kWebp ? 16383 : format == Format::kJpeg ? 65535 : 0;
  if (limit > 0 && (image.width > limit || image.height > limit)) {
    return absl::InvalidArgumentError(absl::StrCat(image.width, "x", image.height,
                                                   " is too large for ", FormatName(format),
                                                   " (at most ", limit, " per side)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<FramePtr> AllocateFrame(AVPixelFormat format, int width, int height) {
  FramePtr frame = MakeFrame();
  if (!frame) return absl::ResourceExhaustedError("cannot allocate a frame");
  frame->format = format;
  frame->width = width;
  frame->height = height;
  if (av_frame_get_buffer(frame.get(), 0) < 0) {
    return absl::ResourceExhaustedError("cannot allocate a frame buffer");
  }
  return frame;
}

absl::StatusOr<CodecContextPtr> AllocateEncoder(const AVCodec* codec, const RgbImage& image,
                                                AVPixelFormat pix_fmt) {
  CodecContextPtr context(avcodec_alloc_context3(codec));
  if (!context) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate a ", codec->name, " encoder"));
  }
  context->width = image.width;
  context->height = image.height;
  context->pix_fmt = pix_fmt;
  context->time_base = AVRational{1, 25};  // required by the API, unused for one picture
  context->sample_aspect_ratio = AVRational{1, 1};
  return context;
}

// Opens `context`, encodes the one `frame` and returns the packet, which for
// these three encoders is the whole file (PNG signature + chunks, JFIF
// SOI..EOI, RIFF WEBP).
absl::StatusOr<std::string> EncodeOnePicture(AVCodecContext* context, const AVCodec* codec,
                                             const AVFrame& frame, Format format) {
  int err = avcodec_open2(context, codec, nullptr);
  if (err < 0) {
    return absl::InternalError(
        absl::StrCat("cannot open the ", codec->name, " encoder: ", AvErrorString(err)));
  }
  err = avcodec_send_frame(context, &frame);
  if (err >= 0) err = avcodec_send_frame(context, nullptr);
  PacketPtr packet = MakePacket();
  if (!packet) return absl::ResourceExhaustedError("cannot allocate a packet");
  if (err >= 0) err = avcodec_receive_packet(context, packet.get());
  if (err < 0) {
    return absl::InternalError(
        absl::StrCat(FormatName(format), " encoding failed: ", AvErrorString(err)));
  }
  return std::string(reinterpret_cast<const char*>(packet->data), packet->size);
}

// The guide's JPEG rule: a picture with alpha is composited on white.
RgbImage OnWhite(const RgbImage& image) {
  RgbImage out(image.width, image.height);
  for (size_t i = 0; i < image.alpha.size(); ++i) {
    const int a = image.alpha[i];
    for (int c = 0; c < 3; ++c) {
      const int v = image.pixels[3 * i + c];
      out.pixels[3 * i + c] = static_cast<uint8_t>((v * a + 255 * (255 - a) + 127) / 255);
    }
  }
  return out;
}

// RGB24 -> planar YUV with the BT.601 matrix (JFIF and VP8 both use it).
// `sws_fmt` is what swscale is told, `frame_fmt` what the frame is tagged
// for the encoder (yuvj* for JPEG: swscale warns on those, so it gets the
// non-j twin with the range set explicitly).
// With an alpha plane and a yuva format, the alpha goes along.
absl::StatusOr<FramePtr> RgbToYuv(const RgbImage& image, AVPixelFormat sws_fmt,
                                  AVPixelFormat frame_fmt, bool full_range) {
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(sws_fmt);
  const bool alpha = image.has_alpha() && desc && (desc->flags & AV_PIX_FMT_FLAG_ALPHA);
  const AVPixelFormat rgb_fmt = alpha ? AV_PIX_FMT_RGBA : AV_PIX_FMT_RGB24;
  ASSIGN_OR_RETURN(FramePtr rgb, AllocateFrame(rgb_fmt, image.width, image.height));
  CopyImageToFrame(image, alpha, rgb.get());
  ASSIGN_OR_RETURN(FramePtr yuv, AllocateFrame(frame_fmt, image.width, image.height));
  SwsPtr sws(sws_getContext(image.width, image.height, rgb_fmt, image.width, image.height,
                            sws_fmt, SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP, nullptr,
                            nullptr, nullptr));
  if (!sws) return absl::InternalError("no RGB to YUV conversion");
  const int* bt601 = sws_getCoefficients(SWS_CS_ITU601);
  sws_setColorspaceDetails(sws.get(), bt601, /*srcRange=*/1, bt601, full_range ? 1 : 0,
                           /*brightness=*/0, /*contrast=*/1 << 16, /*saturation=*/1 << 16);
  if (sws_scale(sws.get(), rgb->data, rgb->linesize, 0, image.height, yuv->data, yuv->linesize) !=
      image.height) {
    return absl::InternalError("RGB to YUV conversion failed");
  }
  yuv->color_range = full_range ? AVCOL_RANGE_JPEG : AVCOL_RANGE_MPEG;
  yuv->colorspace = AVCOL_SPC_BT470BG;
  return yuv;
}

// --- PNG ---------------------------------------------------------------------

absl::StatusOr<std::string> EncodePngFile(const RgbImage& image, const ImageWriteOptions& options) {
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
  if (!codec) return absl::UnimplementedError("libavcodec has no PNG encoder");
  const bool deep = options.bit_depth == 16;
  const bool alpha = image.has_alpha();
  const AVPixelFormat pix_fmt = alpha ? (deep ? AV_PIX_FMT_RGBA64BE : AV_PIX_FMT_RGBA)
                                      : (deep ? AV_PIX_FMT_RGB48BE : AV_PIX_FMT_RGB24);
  ASSIGN_OR_RETURN(CodecContextPtr context, AllocateEncoder(codec, image, pix_fmt));
  context->compression_level =
      options.compression >= 0 ? options.compression : kDefaultPngCompression;
  // Per-row choice of the filter with the smallest residual (libpng's
  // heuristic): the guide's optimize=True, a smaller file at no quality cost.
  if (av_opt_set(context->priv_data, "pred", "mixed", 0) < 0) {
    return absl::InternalError("the PNG encoder has no \"mixed\" prediction");
  }

  ASSIGN_OR_RETURN(FramePtr frame, AllocateFrame(pix_fmt, image.width, image.height));
  if (!deep) {
    CopyImageToFrame(image, alpha, frame.get());
  } else {
    const int channels = alpha ? 4 : 3;
    for (int y = 0; y < image.height; ++y) {
      uint8_t* out = frame->data[0] + static_cast<ptrdiff_t>(y) * frame->linesize[0];
      const uint8_t* in = image.row(y);
      const uint8_t* a = alpha ? image.alpha.data() + static_cast<size_t>(y) * image.width
                               : nullptr;
      for (int x = 0; x < image.width; ++x) {
        for (int c = 0; c < channels; ++c) {
          const uint8_t v = c < 3 ? in[3 * x + c] : a[x];
          // v * 257 = (v << 8) | v: both big-endian bytes are v.
          out[2 * (channels * x + c)] = out[2 * (channels * x + c) + 1] = v;
        }
      }
    }
  }
  return EncodeOnePicture(context.get(), codec, *frame, Format::kPng);
}

// --- JPEG --------------------------------------------------------------------

// ITU-T T.81 Annex K tables, raster order (what libjpeg and Pillow scale).
constexpr uint16_t kJpegLumaTable[64] = {
    16, 11, 10, 16, 24,  40,  51,  61,  12, 12, 14, 19, 26,  58,  60,  55,
    14, 13, 16, 24, 40,  57,  69,  56,  14, 17, 22, 29, 51,  87,  80,  62,
    18, 22, 37, 56, 68,  109, 103, 77,  24, 35, 55, 64, 81,  104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99};
constexpr uint16_t kJpegChromaTable[64] = {
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99,
    99, 99, 47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99};

// The mjpeg encoder writes (matrix[i] * qscale) >> 3 as quantiser i. With
// qscale fixed at 8 the matrices pass through unchanged.
constexpr int kJpegNeutralQscale = 8;

// libjpeg's jpeg_quality_scaling + jpeg_add_quant_table(force_baseline):
// quality q gives the percentage S = 5000/q below 50 and 200-2q from 50 up,
// and quantiser = clamp((base * S + 50) / 100, 1, 255). So q50 = the Annex K
// tables, q95 = a tenth of them (luma 2..12), q100 = all ones. The only
// difference with libjpeg: FFmpeg always quantises the DC term by 8
// (intra_dc_precision 0), i.e. the block mean to one 8-bit level.
uint16_t* ScaledJpegTable(const uint16_t* base, int quality) {
  const long scale = quality < 50 ? 5000 / quality : 200 - 2 * quality;
  auto* table = static_cast<uint16_t*>(av_malloc(64 * sizeof(uint16_t)));
  if (!table) return nullptr;
  for (int i = 0; i < 64; ++i) {
    const long q = (base[i] * scale + 50) / 100;
    table[i] = static_cast<uint16_t>(std::clamp(q, 1L, 255L));
  }
  return table;
}

// Chroma at full resolution from this quality up (anime's saturated line art
// bleeds under 4:2:0); 4:2:0 below, where the guide says 8x8 blocks show
// anyway and size is what matters.
constexpr int kJpegFullChromaQuality = 90;

absl::StatusOr<std::string> EncodeJpegFile(const RgbImage& image,
                                           const ImageWriteOptions& options) {
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
  if (!codec) return absl::UnimplementedError("libavcodec has no MJPEG encoder");
  const int quality = options.quality >= 0 ? options.quality : kDefaultJpegQuality;
  const bool full_chroma = quality >= kJpegFullChromaQuality;
  // The yuvj formats tell the encoder the range is full (JFIF); swscale gets
  // the equivalent non-j formats with the range set explicitly, which avoids
  // its "deprecated pixel format" warning.
  const AVPixelFormat jpeg_fmt = full_chroma ? AV_PIX_FMT_YUVJ444P : AV_PIX_FMT_YUVJ420P;
  const AVPixelFormat sws_fmt = full_chroma ? AV_PIX_FMT_YUV444P : AV_PIX_FMT_YUV420P;

  ASSIGN_OR_RETURN(CodecContextPtr context, AllocateEncoder(codec, image, jpeg_fmt));
  context->color_range = AVCOL_RANGE_JPEG;
  context->colorspace = AVCOL_SPC_BT470BG;  // JFIF: BT.601 matrix, full range
  context->flags |= AV_CODEC_FLAG_QSCALE;
  context->global_quality = kJpegNeutralQscale * FF_QP2LAMBDA;
  // avcodec_free_context frees intra_matrix but (in libavcodec 59) not
  // chroma_intra_matrix: the guard, destroyed before the context, frees it
  // and nulls it, so a libavcodec that does free it cannot free it twice.
  struct ChromaMatrixGuard {
    AVCodecContext* context;
    ~ChromaMatrixGuard() { av_freep(&context->chroma_intra_matrix); }
  } chroma_guard{context.get()};
  context->intra_matrix = ScaledJpegTable(kJpegLumaTable, quality);
  context->chroma_intra_matrix = ScaledJpegTable(kJpegChromaTable, quality);
  if (!context->intra_matrix || !context->chroma_intra_matrix) {
    return absl::ResourceExhaustedError("cannot allocate JPEG quantisation tables");
  }

  ASSIGN_OR_RETURN(FramePtr yuv, RgbToYuv(image.has_alpha() ? OnWhite(image) : image, sws_fmt,
                                          jpeg_fmt, /*full_range=*/true));
  yuv->quality = context->global_quality;
  return EncodeOnePicture(context.get(), codec, *yuv, Format::kJpeg);
}

// --- WebP --------------------------------------------------------------------

absl::StatusOr<std::string> EncodeWebpFile(const RgbImage& image,
                                           const ImageWriteOptions& options) {
  const AVCodec* codec = avcodec_find_encoder_by_name("libwebp");
  if (!codec) {
    return absl::UnimplementedError("libavcodec was built without the libwebp encoder");
  }
  // Lossless: RGB32 (native-endian ARGB words), which libwebp takes as is,
  // so the file is exact. Lossy: VP8 codes BT.601 limited-range 4:2:0, made
  // here with swscale (handing RGB to the wrapper works too, but it logs a
  // warning for every picture).
  const AVPixelFormat pix_fmt = options.lossless      ? AV_PIX_FMT_RGB32
                                : image.has_alpha() ? AV_PIX_FMT_YUVA420P
                                                    : AV_PIX_FMT_YUV420P;
  ASSIGN_OR_RETURN(CodecContextPtr context, AllocateEncoder(codec, image, pix_fmt));
  context->compression_level = options.compression >= 0 ? options.compression : kDefaultWebpMethod;
  const int quality = options.quality >= 0 ? options.quality : kDefaultWebpQuality;
  if (av_opt_set_double(context->priv_data, "quality", quality, 0) < 0 ||
      av_opt_set_int(context->priv_data, "lossless", options.lossless ? 1 : 0, 0) < 0) {
    return absl::InternalError("the libwebp encoder lacks its quality/lossless options");
  }

  if (options.lossless) {
    ASSIGN_OR_RETURN(FramePtr frame, AllocateFrame(pix_fmt, image.width, image.height));
    for (int y = 0; y < image.height; ++y) {
      auto* out = reinterpret_cast<uint32_t*>(frame->data[0] +
                                              static_cast<ptrdiff_t>(y) * frame->linesize[0]);
      const uint8_t* in = image.row(y);
      const uint8_t* a = image.has_alpha()
                             ? image.alpha.data() + static_cast<size_t>(y) * image.width
                             : nullptr;
      for (int x = 0; x < image.width; ++x, in += 3) {
        const uint32_t alpha = a ? a[x] : 0xFF;
        out[x] = (alpha << 24) | (uint32_t{in[0]} << 16) | (uint32_t{in[1]} << 8) | in[2];
      }
    }
    return EncodeOnePicture(context.get(), codec, *frame, Format::kWebp);
  }
  context->color_range = AVCOL_RANGE_MPEG;
  context->colorspace = AVCOL_SPC_BT470BG;
  ASSIGN_OR_RETURN(FramePtr yuv, RgbToYuv(image, pix_fmt, pix_fmt, /*full_range=*/false));
  return EncodeOnePicture(context.get(), codec, *yuv, Format::kWebp);
}

}  // namespace

bool IsImageOutputPath(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".webp";
}

absl::Status ValidateImageWriteOptions(const ImageWriteOptions& options, const std::string& path) {
  if (path.empty() || !fs::path(path).has_filename()) {
    return absl::InvalidArgumentError(
        absl::StrCat("output path \"", path, "\" does not name a file"));
  }
  ASSIGN_OR_RETURN(const Format format, ResolveFormat(options, path));
  return ValidateResolved(format, options);
}

absl::StatusOr<std::string> EncodeImage(const RgbImage& image, const ImageWriteOptions& options,
                                        const std::string& path) {
  ASSIGN_OR_RETURN(const Format format, ResolveFormat(options, path));
  RETURN_IF_ERROR(ValidateResolved(format, options));
  RETURN_IF_ERROR(CheckImage(image, format));
  switch (format) {
    case Format::kPng:
      return EncodePngFile(image, options);
    case Format::kJpeg:
      return EncodeJpegFile(image, options);
    case Format::kWebp:
      return EncodeWebpFile(image, options);
  }
  return absl::InternalError("unreachable image format");
}

absl::Status WriteImageFile(const RgbImage& image, const std::string& path,
                            const ImageWriteOptions& options) {
  RETURN_IF_ERROR(ValidateImageWriteOptions(options, path));
  ASSIGN_OR_RETURN(const std::string bytes, EncodeImage(image, options, path));
  return WriteFileAtomically(path, bytes, Durability::kFsync);
}

}  // namespace anifarm
